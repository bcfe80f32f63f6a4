//! What `status`, `runs` and `run` print: tables for people (colours only on a terminal, and
//! never with `NO_COLOR`), JSON for scripts.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Whether stdout takes colours.
pub(crate) fn colours() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The states that make `cronmon status` exit 1.
pub(crate) const UNHEALTHY: [&str; 3] = ["failing", "late", "stuck"];

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// `3h ago`, `in 20m`, `now`.
pub(crate) fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let n = secs.unsigned_abs();
    let span = match n {
        0..=59 => {
            return if n < 5 {
                "now".into()
            } else if secs < 0 {
                format!("{n}s ago")
            } else {
                format!("in {n}s")
            };
        }
        60..=3599 => format!("{}m", n / 60),
        3600..=172_799 => format!("{}h", n / 3600),
        _ => format!("{}d", n / 86_400),
    };
    if secs < 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

fn paint(s: &str, code: &str, on: bool) -> String {
    if on && !code.is_empty() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_owned()
    }
}

fn state_colour(state: &str) -> &'static str {
    match state {
        "up" => "32",
        "failing" | "stuck" => "31",
        "late" => "33",
        "running" => "36",
        "paused" | "new" => "2",
        _ => "",
    }
}

/// Pads `s` to `width` characters (colour codes not counted).
fn cell(s: &str, width: usize, colour: &str, on: bool) -> String {
    let pad = width.saturating_sub(s.chars().count());
    format!("{}{}", paint(s, colour, on), " ".repeat(pad))
}

/// The crons, one a line: what `cronmon status` prints.
pub(crate) fn status_table(schedules: &[Value], now: DateTime<Utc>, on: bool) -> String {
    if schedules.is_empty() {
        return "no cron recorded yet\n".into();
    }
    let rows: Vec<[String; 5]> = schedules
        .iter()
        .map(|s| {
            let last = match (text(s, "last_status"), time(s, "last_execution_at")) {
                (status, Some(at)) => format!("{status} {}", relative(at, now)),
                _ => "never".into(),
            };
            let next = time(s, "next_run_at").map_or_else(|| "-".into(), |t| relative(t, now));
            let rate = s
                .get("success_rate_7d")
                .and_then(Value::as_f64)
                .map_or_else(|| "-".into(), |r| format!("{r:.0}%"));
            [
                text(s, "cron_name").to_owned(),
                text(s, "state").to_owned(),
                last,
                next,
                rate,
            ]
        })
        .collect();
    let head = ["NAME", "STATE", "LAST RUN", "NEXT RUN", "7D OK"];
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
                + 2
        })
        .collect();
    let mut out = String::new();
    for (i, h) in head.iter().enumerate() {
        out.push_str(&cell(h, widths[i], "1", on));
    }
    out = out.trim_end().to_owned();
    out.push('\n');
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let colour = if i == 1 { state_colour(c) } else { "" };
            line.push_str(&cell(c, widths[i], colour, on));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The crons as `cronmon status --json` prints them.
pub(crate) fn status_json(schedules: &[Value]) -> Value {
    let crons: Vec<Value> = schedules
        .iter()
        .map(|s| {
            json!({
                "name": s.get("cron_name"),
                "state": s.get("state"),
                "state_since": s.get("state_since"),
                "last_status": s.get("last_status"),
                "last_execution_at": s.get("last_execution_at"),
                "next_run_at": s.get("next_run_at"),
                "success_rate_7d": s.get("success_rate_7d"),
            })
        })
        .collect();
    let healthy = !schedules
        .iter()
        .any(|s| UNHEALTHY.contains(&text(s, "state")));
    json!({ "healthy": healthy, "crons": crons })
}

fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 1000 => format!("{ms}ms"),
        Some(ms) if ms < 60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        Some(ms) => format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

fn status_colour(status: &str) -> &'static str {
    match status {
        "completed" => "32",
        "failed" => "31",
        "running" => "36",
        _ => "",
    }
}

/// Runs, one a line: what `cronmon runs` prints.
pub(crate) fn runs_table(runs: &[Value], now: DateTime<Utc>, on: bool) -> String {
    if runs.is_empty() {
        return "no run matches\n".into();
    }
    let name_width = runs
        .iter()
        .map(|r| text(r, "cron_name").chars().count())
        .max()
        .unwrap_or(4)
        .max(4)
        + 2;
    let mut out = format!(
        "{}{}{}{}{}\n",
        cell("ID", 38, "1", on),
        cell("CRON", name_width, "1", on),
        cell("STATUS", 22, "1", on),
        cell("STARTED", 10, "1", on),
        paint("DURATION", "1", on)
    );
    for r in runs {
        let status = text(r, "status");
        let shown = match text(r, "reason") {
            "" => status.to_owned(),
            reason => format!("{status}/{reason}"),
        };
        let started = time(r, "started_at").map_or_else(|| "-".into(), |t| relative(t, now));
        let line = format!(
            "{}{}{}{}{}",
            cell(text(r, "id"), 38, "", on),
            cell(text(r, "cron_name"), name_width, "", on),
            cell(&shown, 22, status_colour(status), on),
            cell(&started, 10, "", on),
            duration(r.get("duration_ms").and_then(Value::as_i64)),
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One run with its output and error: what `cronmon run ID` prints.
pub(crate) fn run_detail(r: &Value, now: DateTime<Utc>, on: bool) -> String {
    let mut out = String::new();
    let status = text(r, "status");
    let mut field = |name: &str, value: String| {
        if !value.is_empty() {
            out.push_str(&format!(
                "{} {value}\n",
                paint(&format!("{name:<10}"), "1", on)
            ));
        }
    };
    field("id", text(r, "id").to_owned());
    field("cron", text(r, "cron_name").to_owned());
    let shown = match text(r, "reason") {
        "" => status.to_owned(),
        reason => format!("{status} ({reason})"),
    };
    field("status", paint(&shown, status_colour(status), on));
    if let Some(t) = time(r, "started_at") {
        field(
            "started",
            format!("{} ({})", t.to_rfc3339(), relative(t, now)),
        );
    }
    if let Some(t) = time(r, "completed_at") {
        field("ended", t.to_rfc3339());
    }
    field(
        "duration",
        duration(r.get("duration_ms").and_then(Value::as_i64)),
    );
    if let Some(code) = r.get("exit_code").and_then(Value::as_i64) {
        field("exit code", code.to_string());
    }
    field("host", text(r, "host").to_owned());
    if let Some(cpu) = r.get("cpu_ms").and_then(Value::as_i64) {
        field("cpu", duration(Some(cpu)));
    }
    if let Some(kb) = r.get("max_rss_kb").and_then(Value::as_i64) {
        field("memory", format!("{:.1} MiB", kb as f64 / 1024.0));
    }
    if let Some(error) = r.get("error_message").and_then(Value::as_str) {
        out.push_str(&format!("\n{}\n{error}\n", paint("error", "1", on)));
    }
    match r.get("output") {
        None | Some(Value::Null) => {}
        Some(output) => {
            let pretty = serde_json::to_string_pretty(output).unwrap_or_default();
            out.push_str(&format!("\n{}\n{pretty}\n", paint("output", "1", on)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now = Utc::now();
        assert_eq!(relative(now, now), "now");
        assert_eq!(relative(now - chrono::TimeDelta::hours(3), now), "3h ago");
        assert_eq!(
            relative(now + chrono::TimeDelta::minutes(20), now),
            "in 20m"
        );
        assert_eq!(relative(now - chrono::TimeDelta::days(4), now), "4d ago");
    }

    #[test]
    fn tables_have_no_colour_off_a_terminal() {
        let s = json!([{"cron_name": "a", "state": "failing", "last_status": "failed",
            "last_execution_at": Utc::now().to_rfc3339(), "next_run_at": null,
            "success_rate_7d": 50.0}]);
        let table = status_table(s.as_array().unwrap(), Utc::now(), false);
        assert!(!table.contains('\x1b'));
        assert!(table.contains("failing") && table.contains("50%"));
        assert!(status_table(s.as_array().unwrap(), Utc::now(), true).contains("\x1b[31mfailing"));
        assert_eq!(status_json(s.as_array().unwrap())["healthy"], false);
    }
}
