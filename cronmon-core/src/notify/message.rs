//! What a notification says, assembled once from its row, its incident and its run, and
//! rendered by each channel (`send/`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
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
