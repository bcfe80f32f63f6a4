//! Judging the due slots of one cron: which were started, which were missed.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};

use super::state::is_paused;
use super::{DueCron, Judgement, MissedSlot, OpenWindows};
use crate::rules::CronSchedule;
use crate::rules::limits::MISSED_ROWS_MAX;

/// Judges the slots of `due` whose start deadline is at or before `until`, at most
/// `max_slots` of them (the rest wait for the next round). A slot is served when one of
/// `starts` serves it ([`CronSchedule::slot_for_start`] with `tolerance`); a slot not served,
/// while the cron was neither paused nor disabled nor in one of `windows`, is missed.
pub(crate) fn judge_slots(
    due: &DueCron,
    schedule: &CronSchedule,
    starts: &[DateTime<Utc>],
    windows: &OpenWindows,
    until: DateTime<Utc>,
    tolerance: TimeDelta,
    max_slots: usize,
) -> Judgement {
    // Checked: a grace written by hand past what a time can hold judges nothing, and never
    // stops the sweep.
    let grace = TimeDelta::try_milliseconds(due.grace_ms).unwrap_or(TimeDelta::MAX);
    let served: HashSet<DateTime<Utc>> = starts
        .iter()
        .filter_map(|t| schedule.slot_for_start(*t, tolerance))
        .collect();
    let mut judgement = Judgement {
        cron_name: due.cron_name.clone(),
        judged_through_was: due.judged_through,
        judged_through: due.judged_through,
        next_deadline_at: None,
        missed: Vec::new(),
        missed_in_row: due.missed_in_row,
        missed_rest_slot: due.missed_rest_slot,
    };
    let last_due = until
        .checked_sub_signed(grace)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    for slot in schedule
        .slots_between(due.judged_through, last_due)
        .take(max_slots)
    {
        judgement.judged_through = slot;
        if served.contains(&slot) {
            judgement.missed_in_row = 0;
            judgement.missed_rest_slot = None;
            continue;
        }
        let excused = !due.is_enabled
            || is_paused(due.paused_at, due.paused_until, slot)
            || windows.covers(Some(&due.cron_name), slot);
        if excused {
            continue;
        }
        // The slot is at most `until - grace`: this holds.
        let deadline = slot.checked_add_signed(grace).unwrap_or(until);
        if judgement.missed_in_row < MISSED_ROWS_MAX {
            judgement.missed.push(MissedSlot {
                slot,
                deadline,
                count: 1,
            });
        } else {
            let rest = *judgement.missed_rest_slot.get_or_insert(slot);
            match judgement.missed.last_mut() {
                Some(last) if last.slot == rest => {
                    last.count += 1;
                    last.deadline = deadline;
                }
                _ => judgement.missed.push(MissedSlot {
                    slot: rest,
                    deadline,
                    count: 1,
                }),
            }
        }
        judgement.missed_in_row += 1;
    }
    judgement.next_deadline_at = schedule
        .first_after(judgement.judged_through)
        .and_then(|next| next.checked_add_signed(grace));
    judgement
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::MaintenanceWindow;
    use chrono::TimeZone;

    fn due(expr: &str, grace_ms: i64, through: DateTime<Utc>) -> (DueCron, CronSchedule) {
        (
            DueCron {
                cron_name: "job".into(),
                cron_expression: expr.into(),
                timezone: "UTC".into(),
                grace_ms,
                judged_through: through,
                paused_at: None,
                paused_until: None,
                is_enabled: true,
                missed_in_row: 0,
                missed_rest_slot: None,
            },
            CronSchedule::new(expr, "UTC").unwrap(),
        )
    }

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, s).unwrap()
    }

    #[test]
    fn early_and_late_starts_serve_their_slot() {
        let (d, sched) = due("0 * * * *", 300_000, t(0, 30, 0));
        // 00:59:57 serves 01:00 (3 s early); 02:04 serves 02:00 (late, within grace); 03:00
        // has no start.
        let starts = [t(0, 59, 57), t(2, 4, 0)];
        let j = judge_slots(
            &d,
            &sched,
            &starts,
            &OpenWindows::default(),
            t(3, 5, 0),
            TimeDelta::seconds(60),
            100,
        );
        assert_eq!(j.judged_through, t(3, 0, 0));
        assert_eq!(
            j.missed.iter().map(|m| m.slot).collect::<Vec<_>>(),
            [t(3, 0, 0)]
        );
        assert_eq!(j.missed[0].deadline, t(3, 5, 0));
        assert_eq!(j.next_deadline_at, Some(t(4, 5, 0)));
        assert_eq!(j.missed_in_row, 1);
    }

    #[test]
    fn a_grace_no_time_can_hold_judges_nothing_and_never_panics() {
        // What a row written by hand could hold; the API refuses more than 30 days.
        for grace_ms in [i64::MAX, 10_i64.pow(15)] {
            let (d, sched) = due("* * * * *", grace_ms, t(0, 0, 0));
            let j = judge_slots(
                &d,
                &sched,
                &[],
                &OpenWindows::default(),
                t(5, 0, 0),
                TimeDelta::seconds(60),
                100,
            );
            assert!(j.missed.is_empty());
            assert_eq!(j.judged_through, t(0, 0, 0));
        }
    }

    #[test]
    fn a_slot_waits_for_its_deadline() {
        let (d, sched) = due("0 * * * *", 300_000, t(0, 30, 0));
        let j = judge_slots(
            &d,
            &sched,
            &[],
            &OpenWindows::default(),
            t(1, 4, 59),
            TimeDelta::seconds(60),
            100,
        );
        assert!(j.missed.is_empty());
        assert_eq!(j.judged_through, t(0, 30, 0));
        assert_eq!(j.next_deadline_at, Some(t(1, 5, 0)));
    }

    #[test]
    fn missed_rows_past_the_cap_are_counted_by_one() {
        let (mut d, sched) = due("* * * * *", 0, t(0, 0, 0));
        d.missed_in_row = MISSED_ROWS_MAX - 2;
        let j = judge_slots(
            &d,
            &sched,
            &[],
            &OpenWindows::default(),
            t(0, 10, 0),
            TimeDelta::seconds(1),
            100,
        );
        assert_eq!(j.missed.len(), 3);
        assert_eq!(j.missed[2].slot, t(0, 3, 0));
        assert_eq!(j.missed[2].count, 8);
        assert_eq!(j.missed_rest_slot, Some(t(0, 3, 0)));
        assert_eq!(j.missed_in_row, MISSED_ROWS_MAX + 8);
        // The next round adds to the same row.
        d.judged_through = j.judged_through;
        d.missed_in_row = j.missed_in_row;
        d.missed_rest_slot = j.missed_rest_slot;
        let j = judge_slots(
            &d,
            &sched,
            &[],
            &OpenWindows::default(),
            t(0, 12, 0),
            TimeDelta::seconds(1),
            100,
        );
        assert_eq!(j.missed.len(), 1);
        assert_eq!((j.missed[0].slot, j.missed[0].count), (t(0, 3, 0), 2));
    }

    #[test]
    fn paused_and_maintenance_slots_are_not_judged() {
        let (mut d, sched) = due("0 * * * *", 0, t(0, 30, 0));
        d.paused_at = Some(t(0, 45, 0));
        d.paused_until = Some(t(2, 30, 0));
        let window = MaintenanceWindow {
            id: uuid::Uuid::nil(),
            cron_name: None,
            cron_expression: "0 4 * * *".into(),
            timezone: "UTC".into(),
            duration_ms: 3_600_000,
            description: None,
        };
        let j = judge_slots(
            &d,
            &sched,
            &[],
            &OpenWindows::parse(&[window]),
            t(5, 0, 0),
            TimeDelta::seconds(1),
            100,
        );
        let slots: Vec<_> = j.missed.iter().map(|m| m.slot).collect();
        assert_eq!(slots, [t(3, 0, 0), t(5, 0, 0)]);
    }
}
