//! `GET /metrics`: the store's figures as Prometheus gauges (text exposition format 0.0.4),
//! computed at each scrape. No registry and no process-global state: the text is written
//! from `stats(24)`, `schedules()` and `stuck_runs()` and thrown away.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use cronmon_core::{CronStats, Schedule};

use crate::Api;
use crate::error::{ApiError, ErrorBody};

/// Content type of the text exposition format.
pub(crate) const CONTENT_TYPE_PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The store's figures as Prometheus gauges.
#[utoipa::path(
    get, path = "/metrics", tag = "meta",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4: per cron \
            `cronmon_runs_24h{cron,status}`, `cronmon_running`, `cronmon_consecutive_failures`, \
            `cronmon_success_rate_7d` (0..1), `cronmon_last_run_timestamp_seconds`, \
            `cronmon_duration_p95_seconds`, `cronmon_duration_avg_seconds` (24 h); and \
            `cronmon_stuck_runs`", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn metrics(State(api): State<Api>) -> Result<Response, ApiError> {
    let store = api.store();
    let (stats, schedules, stuck) =
        tokio::try_join!(store.stats(24), store.schedules(), store.stuck_runs())?;
    let body = render(&stats, &schedules, stuck.len());
    Ok(([(CONTENT_TYPE, CONTENT_TYPE_PROMETHEUS)], body).into_response())
}

/// The Prometheus exposition text (format 0.0.4) of these figures: what `GET /metrics` answers,
/// for an embedder that serves its own metrics endpoint.
pub fn render(stats: &[CronStats], schedules: &[Schedule], stuck_runs: usize) -> String {
    let mut out = String::with_capacity(256 + 512 * (stats.len() + schedules.len()));
    let ms = |v: Option<i64>| v.map(|ms| ms as f64 / 1000.0);

    family(
        &mut out,
        "cronmon_runs_24h",
        "Runs started in the last 24 hours, by status.",
    );
    for s in stats {
        for (status, n) in [
            ("completed", s.completed_count),
            ("failed", s.failed_count),
            ("running", s.running_count),
        ] {
            sample(
                &mut out,
                "cronmon_runs_24h",
                &[("cron", &s.cron_name), ("status", status)],
                n as f64,
            );
        }
    }
    per_cron(
        &mut out,
        "cronmon_running",
        "Runs running now.",
        schedules,
        |s| Some(s.running_count as f64),
    );
    per_cron(
        &mut out,
        "cronmon_consecutive_failures",
        "Failures since the last completed run.",
        schedules,
        |s| Some(s.consecutive_failures as f64),
    );
    per_cron(
        &mut out,
        "cronmon_success_rate_7d",
        "Completed / finished runs over 7 days, 0 to 1 (absent when nothing finished).",
        schedules,
        // The store rounds the percent to 2 decimals; rounding the ratio to 6 keeps the
        // text free of float noise (0.6667, not 0.6667000000000001).
        |s| {
            s.success_rate_7d
                .map(|pct| (pct * 10_000.0).round() / 1_000_000.0)
        },
    );
    per_cron(
        &mut out,
        "cronmon_last_run_timestamp_seconds",
        "Start of the newest run, Unix time.",
        schedules,
        |s| {
            s.last_execution_at
                .map(|t| t.timestamp_millis() as f64 / 1000.0)
        },
    );
    per_cron(
        &mut out,
        "cronmon_duration_p95_seconds",
        "95th percentile of the durations of runs finished in the last 24 hours.",
        stats,
        |s| ms(s.p95_duration_ms),
    );
    per_cron(
        &mut out,
        "cronmon_duration_avg_seconds",
        "Mean duration of runs finished in the last 24 hours.",
        stats,
        |s| ms(s.avg_duration_ms),
    );
    family(
        &mut out,
        "cronmon_stuck_runs",
        "Runs running past their max runtime or heartbeat timeout.",
    );
    sample(&mut out, "cronmon_stuck_runs", &[], stuck_runs as f64);
    out
}

/// A row that belongs to one cron.
trait Named {
    fn cron(&self) -> &str;
}

impl Named for CronStats {
    fn cron(&self) -> &str {
        &self.cron_name
    }
}

impl Named for Schedule {
    fn cron(&self) -> &str {
        &self.cron_name
    }
}

fn per_cron<T: Named>(
    out: &mut String,
    name: &str,
    help: &str,
    rows: &[T],
    value: impl Fn(&T) -> Option<f64>,
) {
    family(out, name, help);
    for row in rows {
        if let Some(v) = value(row) {
            sample(out, name, &[("cron", row.cron())], v);
        }
    }
}

fn family(out: &mut String, name: &str, help: &str) {
    // The help texts are constants without backslash or newline: nothing to escape.
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(value));
    out.push('\n');
}

/// Appends `value` escaped as a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub(crate) fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value as Prometheus reads it (`+Inf`, `-Inf`, `NaN`, else the shortest decimal).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(v: &str) -> String {
        let mut out = String::new();
        escape_label_value(&mut out, v);
        out
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escaped("plain-name_1"), "plain-name_1");
        assert_eq!(escaped(r"a\b"), r"a\\b");
        assert_eq!(escaped(r#"say "hi""#), r#"say \"hi\""#);
        assert_eq!(escaped("two\nlines"), r"two\nlines");
        assert_eq!(escaped("\\\"\n"), r#"\\\"\n"#);
        // Other characters (UTF-8, tabs, braces) pass as they are.
        assert_eq!(escaped("été\t{x}"), "été\t{x}");
    }

    #[test]
    fn values_are_prometheus_floats() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(1_771_015_637.884), "1771015637.884");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
    }

    #[test]
    fn samples_carry_escaped_labels() {
        let mut out = String::new();
        sample(
            &mut out,
            "cronmon_running",
            &[("cron", "a\"b\\c\nd"), ("status", "failed")],
            2.0,
        );
        assert_eq!(
            out,
            "cronmon_running{cron=\"a\\\"b\\\\c\\nd\",status=\"failed\"} 2\n"
        );
        let text = render(&[], &[], 4);
        assert!(text.ends_with("# TYPE cronmon_stuck_runs gauge\ncronmon_stuck_runs 4\n"));
    }
}
