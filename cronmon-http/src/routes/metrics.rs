//! `GET /metrics`: the store's figures as Prometheus gauges (text exposition format 0.0.4),
//! computed at each scrape. No registry and no process-global state: the text is written
//! from `stats(24)`, `schedules()`, `stuck_runs()`, `sweeper_status()`, `channels()`, the
//! count of notifications waiting and the batch kinds' reports, and thrown away.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use cronmon_core::batch::BatchKindReport;
use cronmon_core::health::{CronState, SweeperStatus};
use cronmon_core::notify::{Channel, NotificationFilter, NotificationStatus};
use cronmon_core::{CronStats, PageRequest, Schedule};

use crate::Api;
use crate::error::{ApiError, ErrorBody};
use crate::routes::meta::SweeperHealth;
use crate::routes::stats::batch_reports;

/// Content type of the text exposition format.
pub(crate) const CONTENT_TYPE_PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The store's figures as Prometheus gauges.
#[utoipa::path(
    get, path = "/metrics", tag = "meta",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4: per cron \
            `cronmon_runs_24h{cron,status}`, `cronmon_running`, `cronmon_consecutive_failures`, \
            `cronmon_success_rate_7d` (0..1), `cronmon_last_run_timestamp_seconds`, \
            `cronmon_duration_p95_seconds`, `cronmon_duration_avg_seconds` (24 h), \
            `cronmon_cron_state{cron,state}` (1 for the current state, 0 for the others), \
            `cronmon_cron_state_since_seconds`; and `cronmon_stuck_runs`, \
            `cronmon_incidents_open`, `cronmon_sweeper_last_beat_timestamp_seconds`, \
            `cronmon_sweeper_up`; per channel `cronmon_channel_failing{channel}` (1 after three \
            failed attempts in a row), and `cronmon_notifications_pending` (pending or being \
            sent); per batch kind `cronmon_batch_pending{kind}`, `cronmon_batch_processing`, \
            `cronmon_batch_completed_today`, `cronmon_batch_failed_today`, \
            `cronmon_batch_running_runs`, `cronmon_batch_throughput_per_min` (kinds with \
            recorded runs) and `cronmon_batch_source_up` (kinds with a source: 1 when it \
            answered in time)", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn metrics(State(api): State<Api>) -> Result<Response, ApiError> {
    let reader = api.reader();
    let store = &reader;
    let waiting = |status| {
        let filter = NotificationFilter {
            status: Some(status),
            ..NotificationFilter::default()
        };
        async move {
            let page = PageRequest::new(1, 1)?;
            Ok::<_, cronmon_core::Error>(store.notifications(&filter, page).await?.total)
        }
    };
    let (figures, batches) = tokio::join!(
        async {
            tokio::try_join!(
                store.stats(24),
                store.schedules(),
                store.stuck_runs(),
                store.sweeper_status(),
                store.channels(),
                waiting(NotificationStatus::Pending),
                waiting(NotificationStatus::Sending),
            )
        },
        batch_reports(&api),
    );
    let (stats, schedules, stuck, sweeper, channels, pending, sending) = figures?;
    let mut body = render(&stats, &schedules, stuck.len());
    body.push_str(&render_sweeper(
        sweeper.as_ref(),
        api.config().sweep_every,
        Utc::now(),
    ));
    render_notify(&mut body, &channels, pending.saturating_add(sending));
    body.push_str(&render_batches(&batches?));
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
        |s| s.last_execution_at.map(unix_seconds),
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
    // kube-state-metrics style: one series per state, 1 for the current one, so that
    // `cronmon_cron_state{state="late"} == 1` alerts and a state change is never a new series.
    family(
        &mut out,
        "cronmon_cron_state",
        "The cron's state: 1 for the current one (new, up, late, running, failing, stuck, paused), 0 for the others.",
    );
    for s in schedules {
        for state in CronState::ALL {
            let v = if *state == s.state { 1.0 } else { 0.0 };
            sample(
                &mut out,
                "cronmon_cron_state",
                &[("cron", &s.cron_name), ("state", state.as_str())],
                v,
            );
        }
    }
    per_cron(
        &mut out,
        "cronmon_cron_state_since_seconds",
        "When the cron entered its current state, Unix time.",
        schedules,
        |s| Some(unix_seconds(s.state_since)),
    );
    family(
        &mut out,
        "cronmon_stuck_runs",
        "Runs running past their max runtime or heartbeat timeout.",
    );
    sample(&mut out, "cronmon_stuck_runs", &[], stuck_runs as f64);
    family(
        &mut out,
        "cronmon_incidents_open",
        "Incidents open now (at most one a cron).",
    );
    let open = schedules
        .iter()
        .filter(|s| s.open_incident.is_some())
        .count();
    sample(&mut out, "cronmon_incidents_open", &[], open as f64);
    out
}

/// The exposition text of the sweeper that judges schedules, from its shared heartbeat
/// (`None`: no sweep ever ran), for a sweeper that runs every `sweep_every`, judged at `now`:
/// `cronmon_sweeper_last_beat_timestamp_seconds` (absent before the first sweep) and
/// `cronmon_sweeper_up` (1 when it beat within three intervals, and at least 30 s; see
/// [`SweeperHealth`]). `GET /metrics` appends it to [`render`]'s.
///
/// ```
/// let text = cronmon_http::render_sweeper_metrics(None, std::time::Duration::from_secs(10), chrono::Utc::now());
/// assert!(text.ends_with("cronmon_sweeper_up 0\n"));
/// ```
pub fn render_sweeper(
    sweeper: Option<&SweeperStatus>,
    sweep_every: Duration,
    now: DateTime<Utc>,
) -> String {
    let mut out = String::with_capacity(512);
    let last = sweeper.map(|s| s.last_beat_at);
    family(
        &mut out,
        "cronmon_sweeper_last_beat_timestamp_seconds",
        "The last sweep of any instance on this database, Unix time.",
    );
    if let Some(last) = last {
        sample(
            &mut out,
            "cronmon_sweeper_last_beat_timestamp_seconds",
            &[],
            unix_seconds(last),
        );
    }
    family(
        &mut out,
        "cronmon_sweeper_up",
        "1 when the sweeper that judges schedules beat recently (within three sweep intervals, at least 30 s), else 0.",
    );
    let up = SweeperHealth::of(last, sweep_every, now) == SweeperHealth::Ok;
    sample(&mut out, "cronmon_sweeper_up", &[], f64::from(u8::from(up)));
    out
}

/// The exposition text of the batch kinds, as `GET /cron-executions/batches` reports them
/// ([`batch_reports`]): per kind its four figures, its running runs and its throughput (when it
/// has recorded runs), and for a kind with a source whether the source answered.
fn render_batches(reports: &BTreeMap<String, Result<BatchKindReport, String>>) -> String {
    let mut out = String::with_capacity(1024 + 512 * reports.len());
    let ok = || {
        reports
            .iter()
            .filter_map(|(k, r)| Some((k, r.as_ref().ok()?)))
    };
    let per_kind = |out: &mut String,
                    name: &str,
                    help: &str,
                    value: &dyn Fn(&BatchKindReport) -> Option<f64>| {
        family(out, name, help);
        for (kind, report) in ok() {
            if let Some(v) = value(report) {
                sample(out, name, &[("kind", kind)], v);
            }
        }
    };
    // Counts far below 2^53: exact as floats.
    #[expect(clippy::cast_precision_loss)]
    let n = |v: i64| Some(v as f64);
    per_kind(
        &mut out,
        "cronmon_batch_pending",
        "Items waiting, by batch kind.",
        &|r| n(r.figures.pending),
    );
    per_kind(
        &mut out,
        "cronmon_batch_processing",
        "Items being processed, by batch kind.",
        &|r| n(r.figures.processing),
    );
    per_kind(
        &mut out,
        "cronmon_batch_completed_today",
        "Items completed since midnight UTC, by batch kind.",
        &|r| n(r.figures.completed_today),
    );
    per_kind(
        &mut out,
        "cronmon_batch_failed_today",
        "Items failed since midnight UTC, by batch kind.",
        &|r| n(r.figures.failed_today),
    );
    per_kind(
        &mut out,
        "cronmon_batch_running_runs",
        "Batch runs running now, by batch kind.",
        &|r| n(r.running_count),
    );
    per_kind(
        &mut out,
        "cronmon_batch_throughput_per_min",
        "Items done or failed a minute over the last hour, by batch kind (kinds with recorded runs).",
        &|r| r.throughput_per_min,
    );
    family(
        &mut out,
        "cronmon_batch_source_up",
        "1 when the batch kind's source answered in time, else 0 (kinds with a source).",
    );
    for (kind, report) in reports {
        let up = match report {
            Ok(r) if r.figures_from == "source" => 1.0,
            Ok(_) => continue,
            Err(_) => 0.0,
        };
        sample(&mut out, "cronmon_batch_source_up", &[("kind", kind)], up);
    }
    out
}

/// The channels' health and the notifications waiting.
fn render_notify(out: &mut String, channels: &[Channel], waiting: i64) {
    family(
        out,
        "cronmon_channel_failing",
        "1 when the channel's last three attempts or more failed, else 0.",
    );
    for c in channels {
        sample(
            out,
            "cronmon_channel_failing",
            &[("channel", &c.name)],
            f64::from(u8::from(c.health.is_failing())),
        );
    }
    family(
        out,
        "cronmon_notifications_pending",
        "Notifications waiting to be delivered (pending or being sent).",
    );
    // A count far below 2^53: exact as a float.
    #[expect(clippy::cast_precision_loss)]
    let waiting = waiting as f64;
    sample(out, "cronmon_notifications_pending", &[], waiting);
}

fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
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
        assert!(text.contains("# TYPE cronmon_stuck_runs gauge\ncronmon_stuck_runs 4\n"));
        assert!(text.ends_with("# TYPE cronmon_incidents_open gauge\ncronmon_incidents_open 0\n"));
    }

    #[test]
    fn sweeper_is_up_within_three_intervals_and_at_least_30_s() {
        use chrono::TimeDelta;
        let now = Utc::now();
        let status = |ago: TimeDelta| SweeperStatus {
            last_beat_at: now - ago,
            instance: "a:1".into(),
            gap_from: None,
            gap_until: None,
            settle_until: None,
        };
        let ten = Duration::from_secs(10);
        let up = |ago: TimeDelta, every: Duration| {
            render_sweeper(Some(&status(ago)), every, now).ends_with("cronmon_sweeper_up 1\n")
        };
        assert!(up(TimeDelta::seconds(30), ten), "30 s is the floor");
        assert!(!up(TimeDelta::seconds(31), ten));
        assert!(up(TimeDelta::seconds(180), Duration::from_secs(60)));
        assert!(!up(TimeDelta::seconds(181), Duration::from_secs(60)));
        assert!(up(-TimeDelta::seconds(5), ten), "a beat from a clock ahead");
        let text = render_sweeper(Some(&status(TimeDelta::zero())), ten, now);
        let beat = now.timestamp_millis() as f64 / 1000.0;
        assert!(
            text.contains(&format!(
                "\ncronmon_sweeper_last_beat_timestamp_seconds {}\n",
                format_value(beat)
            )),
            "{text}"
        );
        let never = render_sweeper(None, ten, now);
        assert!(
            !never.contains("\ncronmon_sweeper_last_beat_timestamp_seconds "),
            "{never}"
        );
        assert!(never.ends_with("cronmon_sweeper_up 0\n"));
    }
}
