//! What a notification says, assembled once from its row, its incident and its run, and
//! rendered by each channel (`send/`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Notification, NotificationKind};
use crate::health::{Anomaly, CronState, Incident, IncidentKind};
use crate::model::{Execution, Reason, Status};

/// The `schema` field of the webhook body. A change that removes or renames a field gets a
/// new version; fields may be added within one.
pub const WEBHOOK_SCHEMA: &str = "cronmon.notification.v1";

/// Most characters of a run's error message in a notification.
pub const ERROR_EXCERPT_MAX_CHARS: usize = 500;

/// The incident a notification is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageIncident {
    /// Incident id.
    pub id: Uuid,
    /// What opened it.
    pub kind: IncidentKind,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// Start of the failure streak that opened it.
    pub opened_from: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Opened in the first judgement after cronmon's own downtime.
    pub after_outage: bool,
}

/// The run a notification is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageRun {
    /// Run id.
    pub id: Uuid,
    /// Status.
    pub status: Status,
    /// Why it failed.
    pub reason: Option<Reason>,
    /// Start (a missed slot: its due time).
    pub started_at: DateTime<Utc>,
    /// End.
    pub completed_at: Option<DateTime<Utc>>,
    /// Duration.
    pub duration_ms: Option<i64>,
    /// Error message, cut to [`ERROR_EXCERPT_MAX_CHARS`].
    pub error_message: Option<String>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Host.
    pub host: Option<String>,
    /// Unusual duration.
    pub anomaly: Option<Anomaly>,
    /// The run in the dashboard, when a public URL is configured.
    pub url: Option<String>,
}

/// One notification, ready to render: the same facts for every channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// Notification id: the idempotency key.
    pub id: Uuid,
    /// What it is about.
    pub kind: NotificationKind,
    /// The cron (none for a summary or a test).
    pub cron_name: Option<String>,
    /// The cron's state this notification reports.
    pub state: Option<CronState>,
    /// Since when it is in that state.
    pub since: DateTime<Utc>,
    /// When the notification was written.
    pub created_at: DateTime<Utc>,
    /// The incident.
    pub incident: Option<MessageIncident>,
    /// The run: the one the notification is about, or the incident's opening (or resolving)
    /// run.
    pub run: Option<MessageRun>,
    /// For a summary after cronmon's own downtime: the gap and what it opened.
    pub outage: Option<Value>,
    /// The cron's runs in the dashboard, when a public URL is configured.
    pub dashboard_url: Option<String>,
}

impl Message {
    /// Assembles a message. `public_url` is where the dashboard is served
    /// (`https://cronmon.example.com/`); links point into it.
    pub fn new(
        n: &Notification,
        incident: Option<&Incident>,
        run: Option<&Execution>,
        outage: Option<Value>,
        public_url: Option<&url::Url>,
    ) -> Self {
        let link = |params: &[(&str, &str)]| {
            public_url.map(|base| {
                let mut u = base.clone();
                let query: String = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params)
                    .finish();
                u.set_fragment(Some(&query));
                u.to_string()
            })
        };
        let run = run.map(|r| {
            let id = r.id.to_string();
            MessageRun {
                id: r.id,
                status: r.status,
                reason: r.reason,
                started_at: r.started_at,
                completed_at: r.completed_at,
                duration_ms: r.duration_ms,
                error_message: r.error_message.as_deref().map(excerpt),
                exit_code: r.exit_code,
                host: r.host.clone(),
                anomaly: r.anomaly,
                url: link(&[("run", &id)]),
            }
        });
        let incident = incident.map(|i| MessageIncident {
            id: i.id,
            kind: i.kind,
            opened_at: i.opened_at,
            opened_from: i.opened_from,
            resolved_at: i.resolved_at,
            after_outage: i.after_outage,
        });
        let cron_name = n.cron_name.clone();
        let dashboard_url = match &cron_name {
            Some(cron) => link(&[("cron", cron)]),
            None => link(&[]),
        };
        let (state, since) = state_of(n, incident.as_ref(), run.as_ref());
        Message {
            id: n.id,
            kind: n.kind,
            cron_name,
            state,
            since,
            created_at: n.created_at,
            incident,
            run,
            outage,
            dashboard_url,
        }
    }

    /// One line for people: `backup is failing since 2026-12-02 07:00 UTC`.
    pub fn title(&self) -> String {
        let cron = self.cron_name.as_deref().unwrap_or("cronmon");
        let since = self.since.format("%Y-%m-%d %H:%M UTC");
        match self.kind {
            NotificationKind::IncidentOpened => format!(
                "{cron} is {} since {since}",
                self.state.map_or("failing", CronState::as_str)
            ),
            NotificationKind::IncidentReminder => format!(
                "Still {}: {cron} since {since}",
                self.state.map_or("failing", CronState::as_str)
            ),
            NotificationKind::IncidentResolved => format!("{cron} is up again since {since}"),
            NotificationKind::OutageSummary => {
                let opened = self
                    .outage
                    .as_ref()
                    .and_then(|o| o.get("opened"))
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                format!("After cronmon's own downtime: {opened} incident(s) opened")
            }
            NotificationKind::FailedRun => format!("{cron}: a run failed at {since}"),
            NotificationKind::Missed => format!("{cron}: missed its run due {since}"),
            NotificationKind::Stuck => format!("{cron} is stuck: running since {since}"),
            NotificationKind::Anomaly => format!(
                "{cron}: a run was unusually {} at {since}",
                match self.run.as_ref().and_then(|r| r.anomaly) {
                    Some(Anomaly::Fast) => "fast",
                    _ => "slow",
                }
            ),
            NotificationKind::Test => "cronmon test notification".to_owned(),
        }
    }

    /// Whether this is bad news (openings, failures) rather than a recovery or a test.
    pub fn is_alert(&self) -> bool {
        !matches!(
            self.kind,
            NotificationKind::IncidentResolved | NotificationKind::Test
        )
    }
}

/// Label and value of one fact of a message, as every channel lists them.
pub type Fact = (&'static str, String);

impl Message {
    /// The body of a `webhook` channel, schema [`WEBHOOK_SCHEMA`] (`cronmon.notification.v1`).
    /// Times are RFC 3339 in UTC with milliseconds; absent values are `null`, never left out.
    ///
    /// | field | type | meaning |
    /// | --- | --- | --- |
    /// | `schema` | string | `cronmon.notification.v1` |
    /// | `id` | UUID | the notification: the idempotency key, the same on every retry (also in the `Idempotency-Key` header) |
    /// | `kind` | string | `incident_opened`, `incident_resolved`, `incident_reminder`, `outage_summary`, `failed_run`, `missed`, `stuck`, `anomaly` or `test` |
    /// | `cron` | string\|null | the cron's name (null for a summary or a test) |
    /// | `state` | string\|null | the cron's state this reports: `up`, `late`, `failing`, `stuck` (null for a summary or a test) |
    /// | `since` | time | since when it is in that state |
    /// | `createdAt` | time | when the notification was written |
    /// | `title` | string | one line for people |
    /// | `incident` | object\|null | `id`, `kind` (`failed`, `missed`, `timed_out`, `stuck`, `anomaly`), `openedAt`, `openedFrom` (start of the streak), `resolvedAt` (time\|null), `afterOutage` (opened right after cronmon's own downtime) |
    /// | `run` | object\|null | `id`, `status` (`running`, `completed`, `failed`), `reason` (`error`, `panicked`, `interrupted`, `crashed`, `abandoned`, `timed_out`, `missed`, or null), `startedAt` (a missed slot: its due time), `completedAt`, `durationMs`, `errorMessage` (at most 500 characters), `exitCode`, `host`, `anomaly` (`slow`, `fast` or null), `url` (the run in the dashboard, or null) |
    /// | `outage` | object\|null | a summary only: `gapFrom`, `gapUntil` (cronmon's downtime) and `opened` (the ids of the incidents it opened) |
    /// | `dashboardUrl` | string\|null | the cron in the dashboard, when a public URL is configured |
    pub fn webhook_body(&self) -> Value {
        let time = |t: DateTime<Utc>| Value::from(rfc3339(t));
        let opt_time = |t: Option<DateTime<Utc>>| t.map_or(Value::Null, time);
        let incident = self.incident.as_ref().map_or(Value::Null, |i| {
            json!({
                "id": i.id,
                "kind": i.kind.as_str(),
                "openedAt": time(i.opened_at),
                "openedFrom": time(i.opened_from),
                "resolvedAt": opt_time(i.resolved_at),
                "afterOutage": i.after_outage,
            })
        });
        let run = self.run.as_ref().map_or(Value::Null, |r| {
            json!({
                "id": r.id,
                "status": r.status.as_str(),
                "reason": r.reason.map(Reason::as_str),
                "startedAt": time(r.started_at),
                "completedAt": opt_time(r.completed_at),
                "durationMs": r.duration_ms,
                "errorMessage": r.error_message,
                "exitCode": r.exit_code,
                "host": r.host,
                "anomaly": r.anomaly.map(Anomaly::as_str),
                "url": r.url,
            })
        });
        json!({
            "schema": WEBHOOK_SCHEMA,
            "id": self.id,
            "kind": self.kind.as_str(),
            "cron": self.cron_name,
            "state": self.state.map(CronState::as_str),
            "since": time(self.since),
            "createdAt": time(self.created_at),
            "title": self.title(),
            "incident": incident,
            "run": run,
            "outage": self.outage.clone().unwrap_or(Value::Null),
            "dashboardUrl": self.dashboard_url,
        })
    }

    /// A sentence that goes before the facts, for messages whose title does not say it all.
    pub fn lead(&self) -> Option<&'static str> {
        match self.kind {
            NotificationKind::Test => {
                Some("A test notification from cronmon: if you read this, the channel works.")
            }
            NotificationKind::OutageSummary => Some(
                "cronmon itself was down; these incidents opened in its first judgement after it.",
            ),
            _ => None,
        }
    }

    /// What the message says besides its title and its run's error, as label and value
    /// pairs, in the order people read them: the cron, its state and since when, the
    /// incident, the run (start, duration, host, exit code), an outage's gap.
    pub fn facts(&self) -> Vec<Fact> {
        let mut facts: Vec<Fact> = Vec::new();
        if let Some(cron) = &self.cron_name {
            facts.push(("Cron", cron.clone()));
        }
        if let Some(state) = self.state {
            facts.push(("State", state.as_str().to_owned()));
        }
        facts.push(("Since", when(self.since)));
        if let Some(i) = &self.incident {
            let mut what = match i.kind {
                IncidentKind::Failed => "failed runs",
                IncidentKind::Missed => "missed runs",
                IncidentKind::TimedOut => "runs past their limit",
                IncidentKind::Stuck => "a stuck run",
                IncidentKind::Anomaly => "unusual durations",
            }
            .to_owned();
            if i.after_outage {
                what.push_str(" (opened after cronmon's own downtime)");
            }
            facts.push(("Incident", what));
        }
        if let Some(r) = &self.run {
            let status = match (r.status, r.reason) {
                (Status::Failed, Some(reason)) => format!("failed ({})", reason.as_str()),
                (status, _) => status.as_str().to_owned(),
            };
            facts.push((
                "Run",
                format!("{status}, started {}", short_time(r.started_at)),
            ));
            if let Some(ms) = r.duration_ms {
                facts.push(("Duration", human_ms(ms)));
            }
            if let Some(host) = &r.host {
                facts.push(("Host", host.clone()));
            }
            if let Some(code) = r.exit_code {
                facts.push(("Exit code", code.to_string()));
            }
            if let Some(a) = r.anomaly {
                let what = match a {
                    Anomaly::Slow => "slower than usual",
                    Anomaly::Fast => "faster than its minimum",
                };
                facts.push(("Anomaly", what.to_owned()));
            }
        }
        if let Some(o) = &self.outage {
            let at = |key: &str| {
                o.get(key)
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok())
                    .map_or_else(|| "?".to_owned(), short_time)
            };
            facts.push((
                "Downtime",
                format!("{} to {}", at("gapFrom"), at("gapUntil")),
            ));
            let opened = o
                .get("opened")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            facts.push(("Opened", format!("{opened} incident(s)")));
        }
        facts
    }

    /// The links of the message, label and URL: the run, then the cron in the dashboard.
    pub fn links(&self) -> Vec<(&'static str, &str)> {
        let mut links = Vec::new();
        if let Some(url) = self.run.as_ref().and_then(|r| r.url.as_deref()) {
            links.push(("View run", url));
        }
        if let Some(url) = self.dashboard_url.as_deref() {
            links.push(("Open in cronmon", url));
        }
        links
    }

    /// The run's error message, if there is one.
    pub fn error(&self) -> Option<&str> {
        self.run
            .as_ref()
            .and_then(|r| r.error_message.as_deref())
            .filter(|e| !e.trim().is_empty())
    }

    /// The message as plain text, **without the title** (every channel sends the title on
    /// its own: email as the subject, ntfy as the title): the lead, the facts, the error
    /// indented, the links. Used by email and ntfy.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if let Some(lead) = self.lead() {
            out.push_str(lead);
            out.push_str("\n\n");
        }
        for (label, value) in self.facts() {
            out.push_str(&format!("{label}: {value}\n"));
        }
        if let Some(error) = self.error() {
            out.push_str("\nError:\n");
            for line in error.lines() {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
        }
        let links = self.links();
        if !links.is_empty() {
            out.push('\n');
            for (label, url) in links {
                out.push_str(&format!("{label}: {url}\n"));
            }
        }
        out
    }

    /// The message as an HTML document (the title as its heading, the facts as a table, the
    /// error in a `<pre>`, the links); every string from a job or a setting is escaped. Used
    /// by email.
    pub fn html(&self) -> String {
        let color = if self.kind == NotificationKind::Test {
            "#57606a"
        } else if self.is_alert() {
            "#cf222e"
        } else {
            "#1a7f37"
        };
        let mut out = String::from(
            "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"></head>\n\
             <body style=\"font-family: sans-serif\">\n",
        );
        out.push_str(&format!(
            "<h2 style=\"color: {color}\">{}</h2>\n",
            escape_html(&self.title())
        ));
        if let Some(lead) = self.lead() {
            out.push_str(&format!("<p>{}</p>\n", escape_html(lead)));
        }
        out.push_str("<table>\n");
        for (label, value) in self.facts() {
            out.push_str(&format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
                escape_html(label),
                escape_html(&value)
            ));
        }
        out.push_str("</table>\n");
        if let Some(error) = self.error() {
            out.push_str(&format!(
                "<p><b>Error</b></p>\n<pre style=\"white-space: pre-wrap\">{}</pre>\n",
                escape_html(error)
            ));
        }
        let links = self.links();
        if !links.is_empty() {
            out.push_str("<p>\n");
            for (label, url) in links {
                out.push_str(&format!(
                    "<a href=\"{}\">{}</a><br>\n",
                    escape_html(url),
                    escape_html(label)
                ));
            }
            out.push_str("</p>\n");
        }
        out.push_str("</body>\n</html>\n");
        out
    }
}

/// RFC 3339 in UTC with milliseconds, as every JSON body says times.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `2026-12-02T07:05:00Z (Wed 2 Dec 2026, 07:05 UTC)`: exact for machines, readable by people.
fn when(t: DateTime<Utc>) -> String {
    format!(
        "{} ({})",
        t.to_rfc3339_opts(SecondsFormat::Secs, true),
        t.format("%a %-d %b %Y, %H:%M UTC")
    )
}

fn short_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `450 ms`, `12.3 s`, `4 min 5 s`, `2 h 3 min`.
fn human_ms(ms: i64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    if ms < 60_000 {
        return format!("{:.1} s", ms as f64 / 1000.0);
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min {s} s")
    }
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The state a notification reports, and since when: fixed by what it is about, so every
/// attempt says the same.
fn state_of(
    n: &Notification,
    incident: Option<&MessageIncident>,
    run: Option<&MessageRun>,
) -> (Option<CronState>, DateTime<Utc>) {
    let incident_state = |kind: IncidentKind| match kind {
        IncidentKind::Missed => CronState::Late,
        IncidentKind::Stuck => CronState::Stuck,
        _ => CronState::Failing,
    };
    match n.kind {
        NotificationKind::IncidentOpened | NotificationKind::IncidentReminder => match incident {
            Some(i) => (Some(incident_state(i.kind)), i.opened_from),
            None => (Some(CronState::Failing), n.created_at),
        },
        NotificationKind::IncidentResolved => (
            Some(CronState::Up),
            incident.and_then(|i| i.resolved_at).unwrap_or(n.created_at),
        ),
        NotificationKind::FailedRun | NotificationKind::Anomaly => (
            Some(CronState::Failing),
            run.map_or(n.created_at, |r| r.completed_at.unwrap_or(r.started_at)),
        ),
        NotificationKind::Missed => (
            Some(CronState::Late),
            run.map_or(n.created_at, |r| r.started_at),
        ),
        NotificationKind::Stuck => (
            Some(CronState::Stuck),
            run.map_or(n.created_at, |r| r.started_at),
        ),
        NotificationKind::OutageSummary | NotificationKind::Test => (None, n.created_at),
    }
}

/// The first [`ERROR_EXCERPT_MAX_CHARS`] characters, with `…` when cut.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(ERROR_EXCERPT_MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A message with every part set (an incident, a failed run with an error that tries to
/// ping and to inject markup, links), for the channels' tests.
#[cfg(test)]
pub(crate) fn test_message(kind: NotificationKind) -> Message {
    let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
    let incident = !matches!(
        kind,
        NotificationKind::Test | NotificationKind::OutageSummary
    );
    Message {
        id: "0192f5e0-0000-7000-8000-000000000001".parse().unwrap(),
        kind,
        cron_name: (kind != NotificationKind::Test).then(|| "backup".to_owned()),
        state: match kind {
            NotificationKind::IncidentResolved => Some(CronState::Up),
            NotificationKind::Test | NotificationKind::OutageSummary => None,
            _ => Some(CronState::Failing),
        },
        since: at("2026-12-02T07:00:00Z"),
        created_at: at("2026-12-02T07:05:00Z"),
        incident: incident.then(|| MessageIncident {
            id: "0192f5e0-0000-7000-8000-000000000002".parse().unwrap(),
            kind: IncidentKind::Failed,
            opened_at: at("2026-12-02T07:05:00Z"),
            opened_from: at("2026-12-02T07:00:00Z"),
            resolved_at: (kind == NotificationKind::IncidentResolved)
                .then(|| at("2026-12-02T08:00:00Z")),
            after_outage: false,
        }),
        run: incident.then(|| MessageRun {
            id: "0192f5e0-0000-7000-8000-000000000003".parse().unwrap(),
            status: Status::Failed,
            reason: Some(Reason::Error),
            started_at: at("2026-12-02T07:00:00Z"),
            completed_at: Some(at("2026-12-02T07:01:03Z")),
            duration_ms: Some(63_000),
            error_message: Some("@everyone <b>disk</b> full & ```x```".to_owned()),
            exit_code: Some(2),
            host: Some("db-1".to_owned()),
            anomaly: None,
            url: Some("https://cron.example.com/#run=0192f5e0-0000-7000-8000-000000000003".into()),
        }),
        outage: (kind == NotificationKind::OutageSummary).then(|| {
            json!({"gapFrom": "2026-12-02T06:00:00Z", "gapUntil": "2026-12-02T07:00:00Z",
                   "opened": ["0192f5e0-0000-7000-8000-000000000002"]})
        }),
        dashboard_url: Some("https://cron.example.com/#cron=backup".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::NotificationStatus;

    fn notification(kind: NotificationKind) -> Notification {
        Notification {
            id: Uuid::now_v7(),
            channel: "ops".into(),
            kind,
            cron_name: Some("backup".into()),
            incident_id: None,
            execution_id: None,
            created_at: "2026-12-02T07:05:00Z".parse().unwrap(),
            status: NotificationStatus::Pending,
            attempts: 0,
            next_attempt_at: None,
            delivered_at: None,
            last_status: None,
            last_error: None,
        }
    }

    #[test]
    fn long_errors_are_cut() {
        let long = "é".repeat(600);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), ERROR_EXCERPT_MAX_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt("short"), "short");
    }

    #[test]
    fn links_point_into_the_dashboard() {
        let base = url::Url::parse("https://cron.example.com/admin/").unwrap();
        let m = Message::new(
            &notification(NotificationKind::Test),
            None,
            None,
            None,
            Some(&base),
        );
        assert_eq!(
            m.dashboard_url.as_deref(),
            Some("https://cron.example.com/admin/#cron=backup")
        );
        let m = Message::new(
            &notification(NotificationKind::Test),
            None,
            None,
            None,
            None,
        );
        assert_eq!(m.dashboard_url, None);
    }

    #[test]
    fn webhook_body_fields() {
        let m = test_message(NotificationKind::IncidentOpened);
        let body = m.webhook_body();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "schema",
            "id",
            "kind",
            "cron",
            "state",
            "since",
            "createdAt",
            "title",
            "incident",
            "run",
            "outage",
            "dashboardUrl",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(body["schema"], WEBHOOK_SCHEMA);
        assert_eq!(body["id"], "0192f5e0-0000-7000-8000-000000000001");
        assert_eq!(body["kind"], "incident_opened");
        assert_eq!(body["state"], "failing");
        assert_eq!(body["since"], "2026-12-02T07:00:00.000Z");
        assert_eq!(body["createdAt"], "2026-12-02T07:05:00.000Z");
        assert_eq!(body["incident"]["kind"], "failed");
        assert_eq!(body["incident"]["resolvedAt"], Value::Null);
        assert_eq!(body["incident"]["afterOutage"], false);
        assert_eq!(body["run"]["reason"], "error");
        assert_eq!(body["run"]["durationMs"], 63_000);
        assert_eq!(body["run"]["exitCode"], 2);
        assert_eq!(body["run"]["anomaly"], Value::Null);
        assert_eq!(body["outage"], Value::Null);
        assert_eq!(
            body["dashboardUrl"],
            "https://cron.example.com/#cron=backup"
        );

        let test = test_message(NotificationKind::Test).webhook_body();
        assert_eq!(test["cron"], Value::Null);
        assert_eq!(test["state"], Value::Null);
        assert_eq!(test["incident"], Value::Null);
        assert_eq!(test["run"], Value::Null);
        let summary = test_message(NotificationKind::OutageSummary).webhook_body();
        assert_eq!(
            summary["outage"]["opened"].as_array().map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn text_and_html_say_the_same_facts() {
        let mut m = test_message(NotificationKind::IncidentOpened);
        m.cron_name = Some("<script>".into());
        let text = m.text();
        assert!(text.contains("Cron: <script>\n"), "{text}");
        assert!(text.contains("State: failing\n"), "{text}");
        assert!(
            text.contains("Since: 2026-12-02T07:00:00Z (Wed 2 Dec 2026, 07:00 UTC)\n"),
            "{text}"
        );
        assert!(text.contains("Incident: failed runs\n"), "{text}");
        assert!(
            text.contains("Run: failed (error), started 2026-12-02 07:00:00 UTC\n"),
            "{text}"
        );
        assert!(text.contains("Duration: 1 min 3 s\n"), "{text}");
        assert!(text.contains("Host: db-1\n"), "{text}");
        assert!(text.contains("Exit code: 2\n"), "{text}");
        assert!(
            text.contains("Error:\n    @everyone <b>disk</b> full & ```x```\n"),
            "{text}"
        );
        assert!(
            text.contains("View run: https://cron.example.com/#run="),
            "{text}"
        );
        assert!(
            !text.contains(&m.title()),
            "the title goes on its own: {text}"
        );

        let html = m.html();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>disk"), "{html}");
        assert!(html.contains("<td>&lt;script&gt;</td>"), "{html}");
        assert!(
            html.contains("<h2 style=\"color: #cf222e\">&lt;script&gt; is failing"),
            "{html}"
        );
        assert!(
            html.contains("&lt;b&gt;disk&lt;/b&gt; full &amp;"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://cron.example.com/#cron=backup\">Open in cronmon</a>"),
            "{html}"
        );
        assert!(m.html().contains("#cf222e"));
        assert!(
            test_message(NotificationKind::IncidentResolved)
                .html()
                .contains("#1a7f37")
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_ms(450), "450 ms");
        assert_eq!(human_ms(12_340), "12.3 s");
        assert_eq!(human_ms(245_000), "4 min 5 s");
        assert_eq!(human_ms(7_380_000), "2 h 3 min");
    }

    #[test]
    fn titles_say_cron_state_and_since() {
        let m = Message::new(
            &notification(NotificationKind::IncidentOpened),
            None,
            None,
            None,
            None,
        );
        assert_eq!(m.title(), "backup is failing since 2026-12-02 07:05 UTC");
    }
}
