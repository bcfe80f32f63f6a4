//! How a batch of starts and finishes becomes two multi-row writes, on either database: the
//! runs to insert (ended already when their finish is in the batch too: one row written
//! instead of a row and its update) and the finishes to apply to stored runs. What those
//! writes do not settle (a repeated id, a finish that did not apply, a run that was stored
//! already) is left to the per-event path, for its exact result: every event is idempotent,
//! so the order the two paths write in changes no outcome that matters.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::{Event, Finish, Outcome, Start};

/// A run to insert.
#[derive(Clone, Copy)]
pub(crate) struct RunRow<'a> {
    /// The start's index in the batch.
    pub(crate) at: usize,
    pub(crate) start: &'a Start,
    /// The run's finish and its index, when the batch has it: the run is inserted ended.
    pub(crate) finish: Option<(usize, &'a Finish)>,
}

/// A batch's starts and finishes, sorted into multi-row writes.
pub(crate) struct RunsPlan<'a> {
    /// Runs to insert, in id order (two batches that write the same runs lock them in the same
    /// order).
    pub(crate) rows: Vec<RunRow<'a>>,
    /// Finishes of runs started in an earlier batch, in id order, each with its index.
    pub(crate) updates: Vec<(usize, &'a Finish)>,
    /// Events for the per-event path whatever the writes do (a repeated start or finish).
    later: Vec<usize>,
}

impl<'a> RunsPlan<'a> {
    /// Sorts `events`. With `others_after`, heartbeats and batch-run reports are left for the
    /// per-event path after the writes (a server's group commit mixes many jobs' events, so
    /// one job's heartbeat or report would otherwise send every other event of its batch down
    /// that path); without it, a batch holding any is `None`. `None` too when a heartbeat's
    /// run also ends in the batch, whose progress would then come after its end, and when
    /// nothing but such events is left to write. A batch-run report needs no such care: each
    /// carries its run's whole state, so reports are idempotent and land in any order.
    pub(crate) fn of(events: &'a [Event], others_after: bool) -> Option<Self> {
        let mut first_start: HashMap<Uuid, usize> = HashMap::new();
        let mut first_finish: HashMap<Uuid, usize> = HashMap::new();
        let mut later = Vec::new();
        let mut beats = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let (firsts, id) = match event {
                Event::Start(s) => (&mut first_start, s.id),
                Event::Finish(f) => (&mut first_finish, f.id),
                Event::Heartbeat(h) if others_after => {
                    beats.push(h.id);
                    later.push(i);
                    continue;
                }
                Event::Batch(_) if others_after => {
                    later.push(i);
                    continue;
                }
                Event::Heartbeat(_) | Event::Batch(_) => return None,
            };
            match firsts.entry(id) {
                Entry::Occupied(_) => later.push(i),
                Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }
        // Deferred events alone go straight to the per-event path.
        let only_later = !later.is_empty() && first_start.is_empty() && first_finish.is_empty();
        if only_later || beats.iter().any(|id| first_finish.contains_key(id)) {
            return None;
        }
        let mut order: Vec<usize> = first_start
            .values()
            .chain(first_finish.values())
            .copied()
            .collect();
        order.sort_by_key(|&i| (events[i].execution_id(), i));
        let mut rows = Vec::new();
        let mut updates = Vec::new();
        for i in order {
            match &events[i] {
                Event::Start(s) => {
                    let finish = first_finish.get(&s.id).and_then(|&j| match &events[j] {
                        Event::Finish(f) => Some((j, f)),
                        _ => None,
                    });
                    rows.push(RunRow {
                        at: i,
                        start: s,
                        finish,
                    });
                }
                Event::Finish(f) if !first_start.contains_key(&f.id) => updates.push((i, f)),
                // Ended with its start, above.
                _ => {}
            }
        }
        Some(Self {
            rows,
            updates,
            later,
        })
    }

    /// What the writes settled, given what they returned: `(true, id)` for each run inserted,
    /// `(false, id)` for each finish applied. The rest is for the per-event path.
    pub(crate) fn settle(&self, n: usize, written: &[(bool, Uuid)]) -> Settled {
        let inserted: HashSet<Uuid> = written.iter().filter(|w| w.0).map(|w| w.1).collect();
        let updated: HashSet<Uuid> = written.iter().filter(|w| !w.0).map(|w| w.1).collect();
        let mut results: Vec<Option<Result<Outcome>>> = (0..n).map(|_| None).collect();
        let mut later = self.later.clone();
        for row in &self.rows {
            let finish = row.finish.map(|(j, _)| j);
            if inserted.contains(&row.start.id) {
                results[row.at] = Some(Ok(Outcome::Recorded));
                if let Some(j) = finish {
                    results[j] = Some(Ok(Outcome::Recorded));
                }
            } else {
                // The run was there already: its end applies to it on the per-event path.
                results[row.at] = Some(Ok(Outcome::AlreadyRecorded));
                later.extend(finish);
            }
        }
        for &(i, f) in &self.updates {
            if updated.contains(&f.id) {
                results[i] = Some(Ok(Outcome::Recorded));
            } else {
                later.push(i);
            }
        }
        later.sort_unstable();
        Settled { results, later }
    }
}

/// A batch's results once its multi-row writes are done, and the events they left.
pub(crate) struct Settled {
    results: Vec<Option<Result<Outcome>>>,
    /// Indexes in the batch of the events left for the per-event path, in batch order.
    later: Vec<usize>,
}

impl Settled {
    /// The events left for the per-event path, in batch order (none, most of the time).
    pub(crate) fn rest(&self, events: &[Event]) -> Vec<Event> {
        self.later.iter().map(|&i| events[i].clone()).collect()
    }

    /// Every event's result, given the per-event path's results for [`Settled::rest`].
    pub(crate) fn finish(mut self, rest: Vec<Result<Outcome>>) -> Vec<Result<Outcome>> {
        for (&i, r) in self.later.iter().zip(rest) {
            self.results[i] = Some(r);
        }
        self.results
            .into_iter()
            // Both paths answer every event; were one not to, the event stays unconfirmed.
            .map(|r| r.unwrap_or(Err(Error::UnknownExecution(Uuid::nil()))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::BatchEvent;
    use crate::model::{CronName, Heartbeat, Status};

    fn start() -> Start {
        Start::now(CronName::new("plan").unwrap())
    }

    #[test]
    fn reports_and_heartbeats_wait_for_the_writes_only_when_asked() {
        let (a, b) = (start(), start());
        let events = [
            Event::Start(a.clone()),
            Event::Batch(BatchEvent::start("reindex", None)),
            Event::Finish(Finish::now(a.id, Status::Completed)),
            Event::Heartbeat(Heartbeat {
                id: b.id,
                at: chrono::Utc::now(),
                done: Some(1),
                total: None,
            }),
            Event::Start(b),
        ];
        let plan = RunsPlan::of(&events, true).expect("a plan");
        assert_eq!(plan.rows.len(), 2);
        assert_eq!(plan.rows.iter().filter(|r| r.finish.is_some()).count(), 1);
        assert_eq!(plan.later, [1, 3]);
        assert!(RunsPlan::of(&events, false).is_none());
        // Nothing for the multi-row writes: the per-event path takes the batch.
        assert!(RunsPlan::of(&events[1..2], true).is_none());
        // A heartbeat of a run that ends in the batch: its progress must land first.
        let ends_b = [
            &events[..],
            &[Event::Finish(Finish::now(
                events[4].execution_id(),
                Status::Failed,
            ))],
        ]
        .concat();
        assert!(RunsPlan::of(&ends_b, true).is_none());
    }
}
