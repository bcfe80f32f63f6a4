//! A cron's state, derived when it is read.

use chrono::{DateTime, Utc};

use super::CronState;
use crate::model::{Reason, Status};

/// What a cron's state is derived from, as its schedule row holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateInputs {
    /// Whether it is monitored.
    pub is_enabled: bool,
    /// Paused since.
    pub paused_at: Option<DateTime<Utc>>,
    /// Pause ends.
    pub paused_until: Option<DateTime<Utc>>,
    /// Registered at.
    pub created_at: DateTime<Utc>,
    /// Last change of settings.
    pub updated_at: DateTime<Utc>,
    /// Start of the oldest running run.
    pub oldest_running_at: Option<DateTime<Utc>>,
    /// When the first stuck run crossed its limit.
    pub stuck_since: Option<DateTime<Utc>>,
    /// The newest run: status, reason, end.
    pub last_status: Option<Status>,
    /// Reason of the newest run.
    pub last_reason: Option<Reason>,
    /// End of the newest run (for a `missed` row: its start deadline).
    pub last_completed_at: Option<DateTime<Utc>>,
    /// Start deadline of the next slot to judge.
    pub next_deadline_at: Option<DateTime<Utc>>,
    /// Slots at or before this are judged (a deadline not after it is not computed yet).
    pub judged_through: Option<DateTime<Utc>>,
    /// When the open incident opened.
    pub incident_opened_at: Option<DateTime<Utc>>,
}

impl StateInputs {
    /// Whether the cron is paused at `t`.
    pub fn paused_at_time(&self, t: DateTime<Utc>) -> bool {
        is_paused(self.paused_at, self.paused_until, t)
    }

    /// The state at `now`, and since when.
    ///
    /// ```
    /// use chrono::Utc;
    /// use cronmon_core::health::{CronState, StateInputs};
    /// let now = Utc::now();
    /// let new = StateInputs { is_enabled: true, created_at: now, updated_at: now, ..Default::default() };
    /// assert_eq!(new.state(now), (CronState::New, now));
    /// ```
    pub fn state(&self, now: DateTime<Utc>) -> (CronState, DateTime<Utc>) {
        if !self.is_enabled {
            return (CronState::Paused, self.paused_at.unwrap_or(self.updated_at));
        }
        if self.paused_at_time(now) {
            return (CronState::Paused, self.paused_at.unwrap_or(self.updated_at));
        }
        if let Some(since) = self.stuck_since {
            return (CronState::Stuck, since);
        }
        if let Some(since) = self.oldest_running_at {
            return (CronState::Running, since);
        }
        let missed_last = (self.last_reason == Some(Reason::Missed))
            .then_some(self.last_completed_at)
            .flatten();
        let overdue = self
            .next_deadline_at
            .filter(|d| *d <= now && self.judged_through.is_none_or(|j| *d > j));
        if let Some(since) = [missed_last, overdue].into_iter().flatten().min() {
            return (CronState::Late, since);
        }
        if let Some(since) = self.incident_opened_at {
            return (CronState::Failing, since);
        }
        match self.last_status {
            Some(Status::Failed) => (
                CronState::Failing,
                self.last_completed_at.unwrap_or(self.created_at),
            ),
            Some(_) => (
                CronState::Up,
                self.last_completed_at.unwrap_or(self.created_at),
            ),
            None => (CronState::New, self.created_at),
        }
    }
}

/// Whether a pause from `at` until `until` (or open-ended) holds at `t`.
pub(crate) fn is_paused(
    at: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    t: DateTime<Utc>,
) -> bool {
    at.is_some_and(|at| at <= t) && until.is_none_or(|until| t < until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn base(now: DateTime<Utc>) -> StateInputs {
        StateInputs {
            is_enabled: true,
            created_at: now - TimeDelta::days(2),
            updated_at: now - TimeDelta::days(2),
            ..Default::default()
        }
    }

    #[test]
    fn order_of_states() {
        let now = Utc::now();
        let hour = TimeDelta::hours(1);
        let mut s = base(now);
        assert_eq!(s.state(now).0, CronState::New);
        s.last_status = Some(Status::Completed);
        s.last_completed_at = Some(now - hour);
        assert_eq!(s.state(now), (CronState::Up, now - hour));
        s.next_deadline_at = Some(now + hour);
        assert_eq!(
            s.state(now).0,
            CronState::Up,
            "a deadline to come is not late"
        );
        s.next_deadline_at = Some(now - TimeDelta::minutes(1));
        assert_eq!(s.state(now), (CronState::Late, now - TimeDelta::minutes(1)));
        s.oldest_running_at = Some(now - TimeDelta::seconds(5));
        assert_eq!(s.state(now).0, CronState::Running);
        s.stuck_since = Some(now - TimeDelta::seconds(1));
        assert_eq!(s.state(now).0, CronState::Stuck);
        s.paused_at = Some(now - hour);
        assert_eq!(s.state(now), (CronState::Paused, now - hour));
        s.paused_until = Some(now - TimeDelta::seconds(1));
        assert_eq!(s.state(now).0, CronState::Stuck, "a pause that ended");
    }

    #[test]
    fn failing_and_missed() {
        let now = Utc::now();
        let mut s = base(now);
        s.last_status = Some(Status::Failed);
        s.last_reason = Some(Reason::Error);
        s.last_completed_at = Some(now - TimeDelta::minutes(3));
        assert_eq!(s.state(now).0, CronState::Failing);
        s.incident_opened_at = Some(now - TimeDelta::minutes(2));
        assert_eq!(
            s.state(now),
            (CronState::Failing, now - TimeDelta::minutes(2))
        );
        s.last_reason = Some(Reason::Missed);
        assert_eq!(s.state(now), (CronState::Late, now - TimeDelta::minutes(3)));
        s.is_enabled = false;
        assert_eq!(s.state(now).0, CronState::Paused);
    }
}
