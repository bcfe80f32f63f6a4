//! Evaluating one cron after its runs changed: late starts that replace `missed` rows,
//! duration anomalies, and the opening and resolution of its incident.

use chrono::{DateTime, TimeDelta, Utc};

use super::state::is_paused;
use super::{Anomaly, DirtyCron, HealthChange, Incident, IncidentKind, OpenWindows, RunBrief};
use crate::model::{Reason, Status};
use crate::rules::CronSchedule;

/// Longest error text an incident keeps of its opening run.
const INCIDENT_ERROR_MAX_BYTES: usize = 1024;

/// What one run counts as in a streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Success,
    Failure(IncidentKind),
    /// Running within its limits: neither breaks nor extends a streak.
    Pending,
}

/// Decides what changes for `cron`, given its newest runs (`runs`, newest first by start),
/// its schedule, the p95 of its newest finished runs of the last 7 days (`p95`: how many, and
/// the value; see `ANOMALY_BASELINE_RUNS`) and the maintenance windows that apply to it.
pub(crate) fn evaluate(
    cron: &DirtyCron,
    runs: &[RunBrief],
    schedule: Option<&CronSchedule>,
    p95: Option<(i64, Option<i64>)>,
    windows: &OpenWindows,
    now: DateTime<Utc>,
    tolerance: TimeDelta,
) -> HealthChange {
    let mut change = HealthChange {
        cron_name: cron.cron_name.clone(),
        ..HealthChange::default()
    };

    // A start that served a slot already written as missed replaces the guess.
    if let Some(schedule) = schedule {
        let served: std::collections::HashSet<DateTime<Utc>> = runs
            .iter()
            .filter(|r| r.reason != Some(Reason::Missed))
            .filter_map(|r| schedule.slot_for_start(r.started_at, tolerance))
            .collect();
        change.replaced_missed = runs
            .iter()
            .filter(|r| r.reason == Some(Reason::Missed) && served.contains(&r.started_at))
            .map(|r| r.started_at)
            .collect();
    }
    let runs: Vec<&RunBrief> = runs
        .iter()
        .filter(|r| {
            !(r.reason == Some(Reason::Missed) && change.replaced_missed.contains(&r.started_at))
        })
        .collect();

    // Anomalies of runs finished since the last check.
    let slow_over = p95.and_then(|(n, p95)| {
        (n >= crate::rules::limits::ANOMALY_MIN_RUNS)
            .then_some(p95)
            .flatten()
            .map(|p| p as f64 * cron.anomaly_factor)
    });
    let mut flagged = Vec::new();
    for r in &runs {
        let Some(done) = r.completed_at else { continue };
        if r.reason == Some(Reason::Missed) {
            continue;
        }
        if cron.anomaly_checked_at.is_some_and(|c| done <= c) {
            continue;
        }
        change.anomaly_checked_at = change.anomaly_checked_at.max(Some(done));
        if r.anomaly.is_some() {
            continue;
        }
        let Some(ms) = r.duration_ms else { continue };
        let anomaly = if slow_over.is_some_and(|limit| ms as f64 > limit) {
            Some(Anomaly::Slow)
        } else if r.status == Status::Completed && cron.min_duration_ms.is_some_and(|m| ms < m) {
            Some(Anomaly::Fast)
        } else {
            None
        };
        if let Some(a) = anomaly {
            change.anomalies.push((r.id, a));
            flagged.push((r.id, a));
        }
    }

    // The streaks at the head of the history.
    let verdict = |r: &RunBrief| -> Verdict {
        let anomaly = r
            .anomaly
            .or_else(|| flagged.iter().find(|(id, _)| *id == r.id).map(|(_, a)| *a));
        match r.status {
            Status::Failed => Verdict::Failure(match r.reason {
                Some(Reason::Missed) => IncidentKind::Missed,
                Some(Reason::TimedOut) => IncidentKind::TimedOut,
                _ => IncidentKind::Failed,
            }),
            Status::Completed if cron.anomaly_incidents && anomaly.is_some() => {
                Verdict::Failure(IncidentKind::Anomaly)
            }
            Status::Completed => Verdict::Success,
            Status::Running if is_stuck(cron, r, now) => Verdict::Failure(IncidentKind::Stuck),
            Status::Running => Verdict::Pending,
        }
    };
    let judged: Vec<(&RunBrief, Verdict)> = runs
        .iter()
        .map(|r| (*r, verdict(r)))
        .filter(|(_, v)| *v != Verdict::Pending)
        .collect();
    let failures: Vec<(&RunBrief, IncidentKind)> = judged
        .iter()
        .map_while(|(r, v)| match v {
            Verdict::Failure(kind) => Some((*r, *kind)),
            _ => None,
        })
        .collect();
    let successes: Vec<&RunBrief> = judged
        .iter()
        .map_while(|(r, v)| (*v == Verdict::Success).then_some(*r))
        .collect();

    let quiet = !cron.is_enabled
        || is_paused(cron.paused_at, cron.paused_until, now)
        || windows.covers(Some(&cron.cron_name), now);
    match &cron.open_incident {
        None => {
            let threshold = usize::try_from(cron.failure_threshold.max(1)).unwrap_or(1);
            if !quiet && failures.len() >= threshold {
                let (crossing, kind) = failures[failures.len() - threshold];
                let first = failures[failures.len() - 1].0;
                change.open = Some(Incident {
                    id: uuid::Uuid::now_v7(),
                    cron_name: cron.cron_name.clone(),
                    kind,
                    opened_at: now,
                    opening_execution_id: Some(crossing.id),
                    opened_from: first.started_at,
                    error_message: crossing.error_message.as_deref().map(cut),
                    resolved_at: None,
                    resolving_execution_id: None,
                    after_outage: false,
                });
            }
        }
        Some(open) => {
            let threshold = usize::try_from(cron.recovery_threshold.max(1)).unwrap_or(1);
            let after_opening: Vec<&RunBrief> = successes
                .iter()
                .copied()
                .filter(|r| r.started_at >= open.opened_from)
                .collect();
            if after_opening.len() >= threshold {
                let resolving = after_opening[after_opening.len() - threshold];
                change.resolve = Some((open.id, now, Some(resolving.id)));
            }
        }
    }
    change
}

/// Whether a running run is past its max runtime or heartbeat timeout at `now`.
fn is_stuck(cron: &DirtyCron, r: &RunBrief, now: DateTime<Utc>) -> bool {
    let over = |since: DateTime<Utc>, ms: i64| now - since > TimeDelta::milliseconds(ms);
    over(r.started_at, cron.timeout_ms)
        || cron
            .heartbeat_timeout_ms
            .is_some_and(|ms| over(r.last_heartbeat_at.unwrap_or(r.started_at), ms))
}

fn cut(text: &str) -> String {
    if text.len() <= INCIDENT_ERROR_MAX_BYTES {
        return text.to_owned();
    }
    let mut end = INCIDENT_ERROR_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl HealthChange {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.replaced_missed.is_empty()
            && self.anomalies.is_empty()
            && self.anomaly_checked_at.is_none()
            && self.open.is_none()
            && self.resolve.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::OpenIncident;
    use uuid::Uuid;

    fn cron(failure: i32, recovery: i32) -> DirtyCron {
        DirtyCron {
            cron_name: "job".into(),
            cron_expression: Some("0 * * * *".into()),
            timezone: "UTC".into(),
            timeout_ms: 3_600_000,
            heartbeat_timeout_ms: None,
            failure_threshold: failure,
            recovery_threshold: recovery,
            anomaly_factor: 3.0,
            min_duration_ms: None,
            anomaly_incidents: false,
            paused_at: None,
            paused_until: None,
            is_enabled: true,
            anomaly_checked_at: None,
            open_incident: None,
        }
    }

    fn run(hours_ago: i64, status: Status, reason: Option<Reason>) -> RunBrief {
        let started = Utc::now() - TimeDelta::hours(hours_ago);
        RunBrief {
            id: Uuid::now_v7(),
            status,
            reason,
            started_at: started,
            completed_at: (status != Status::Running).then_some(started + TimeDelta::seconds(1)),
            duration_ms: Some(1000),
            anomaly: None,
            error_message: Some("boom".into()),
            last_heartbeat_at: None,
        }
    }

    #[test]
    fn threshold_three_opens_on_the_third_failure() {
        let now = Utc::now();
        let fail = |h| run(h, Status::Failed, Some(Reason::Error));
        let two = [fail(1), fail(2), run(3, Status::Completed, None)];
        let c = cron(3, 1);
        assert!(
            evaluate(
                &c,
                &two,
                None,
                None,
                &OpenWindows::default(),
                now,
                TimeDelta::seconds(60)
            )
            .open
            .is_none()
        );
        let three = [fail(1), fail(2), fail(3), run(4, Status::Completed, None)];
        let change = evaluate(
            &c,
            &three,
            None,
            None,
            &OpenWindows::default(),
            now,
            TimeDelta::seconds(60),
        );
        let opened = change.open.expect("opens");
        assert_eq!(opened.opening_execution_id, Some(three[0].id));
        assert_eq!(opened.opened_from, three[2].started_at);
        assert_eq!(opened.kind, IncidentKind::Failed);
    }

    #[test]
    fn recovery_needs_its_successes_after_the_opening() {
        let now = Utc::now();
        let mut c = cron(1, 2);
        let failed = run(3, Status::Failed, Some(Reason::Missed));
        c.open_incident = Some(OpenIncident {
            id: Uuid::now_v7(),
            opened_at: now,
            opened_from: failed.started_at,
        });
        let ok = |h| run(h, Status::Completed, None);
        let one = [ok(1), failed.clone()];
        assert!(
            evaluate(
                &c,
                &one,
                None,
                None,
                &OpenWindows::default(),
                now,
                TimeDelta::seconds(60)
            )
            .resolve
            .is_none()
        );
        let two = [ok(1), ok(2), failed];
        let change = evaluate(
            &c,
            &two,
            None,
            None,
            &OpenWindows::default(),
            now,
            TimeDelta::seconds(60),
        );
        assert_eq!(change.resolve.map(|r| r.2), Some(Some(two[0].id)));
    }

    #[test]
    fn paused_crons_open_nothing() {
        let now = Utc::now();
        let mut c = cron(1, 1);
        c.paused_at = Some(now - TimeDelta::hours(1));
        let runs = [run(1, Status::Failed, Some(Reason::Error))];
        assert!(
            evaluate(
                &c,
                &runs,
                None,
                None,
                &OpenWindows::default(),
                now,
                TimeDelta::seconds(60)
            )
            .open
            .is_none()
        );
    }

    #[test]
    fn a_slow_run_is_flagged_and_may_count() {
        let now = Utc::now();
        let mut c = cron(1, 1);
        let mut slow = run(1, Status::Completed, None);
        slow.duration_ms = Some(10_000);
        let runs = [slow.clone()];
        let change = evaluate(
            &c,
            &runs,
            None,
            Some((25, Some(1000))),
            &OpenWindows::default(),
            now,
            TimeDelta::seconds(60),
        );
        assert_eq!(change.anomalies, [(slow.id, Anomaly::Slow)]);
        assert!(change.open.is_none());
        assert!(
            evaluate(
                &c,
                &runs,
                None,
                Some((19, Some(1000))),
                &OpenWindows::default(),
                now,
                TimeDelta::seconds(60)
            )
            .anomalies
            .is_empty()
        );
        c.anomaly_incidents = true;
        let change = evaluate(
            &c,
            &runs,
            None,
            Some((25, Some(1000))),
            &OpenWindows::default(),
            now,
            TimeDelta::seconds(60),
        );
        assert_eq!(change.open.map(|i| i.kind), Some(IncidentKind::Anomaly));
    }

    #[test]
    fn a_late_start_replaces_the_missed_row() {
        let now = Utc::now();
        let schedule = CronSchedule::new("0 * * * *", "UTC").unwrap();
        let slot = schedule
            .latest_at_or_before(now - TimeDelta::hours(2))
            .unwrap();
        let mut missed = run(0, Status::Failed, Some(Reason::Missed));
        missed.started_at = slot;
        let mut late = run(0, Status::Completed, None);
        late.started_at = slot + TimeDelta::minutes(7);
        let runs = [late, missed];
        let change = evaluate(
            &cron(1, 1),
            &runs,
            Some(&schedule),
            None,
            &OpenWindows::default(),
            now,
            TimeDelta::seconds(60),
        );
        assert_eq!(change.replaced_missed, [slot]);
        assert!(change.open.is_none(), "the replaced row counts no more");
    }
}
