//! The sweep: one round of judging due slots and evaluating changed crons.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{DirtyCron, DueCron, OpenWindows, evaluate, judge_slots};
use crate::error::Result;
use crate::rules::CronSchedule;
use crate::store::Store;

/// How a [`Sweeper`] judges.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// How often sweeps run; a heartbeat silent for three times this (at least 30 s) is a gap.
    pub every: Duration,
    /// After a gap, how long slots due in it wait before they are judged, so runs spooled
    /// while cronmon was down arrive first (at most a day).
    pub settle: Duration,
    /// How early a start may be for the slot it serves.
    pub tolerance: Duration,
    /// Crons read per query.
    pub batch: u32,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(10),
            settle: Duration::from_secs(300),
            tolerance: Duration::from_millis(
                crate::rules::limits::SLOT_TOLERANCE_DEFAULT_MS.unsigned_abs(),
            ),
            batch: 1000,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Crons whose due slots were judged.
    pub judged: usize,
    /// `missed` rows written (a row that counts several slots counts once).
    pub missed: usize,
    /// Crons evaluated after their runs changed.
    pub evaluated: usize,
    /// `missed` rows a late start replaced.
    pub replaced: usize,
    /// Runs flagged as anomalies.
    pub anomalies: usize,
    /// Incidents opened.
    pub opened: usize,
    /// Incidents resolved.
    pub resolved: usize,
    /// Runs stuck now.
    pub stuck: usize,
    /// While settling after a gap: slots due after this wait.
    pub holding_until: Option<DateTime<Utc>>,
}

/// Judges schedules against their runs, a round at a time; see [`crate::health`].
///
/// ```no_run
/// # async fn demo(store: std::sync::Arc<dyn cronmon_core::Store>) -> cronmon_core::Result<()> {
/// use cronmon_core::health::{SweepConfig, Sweeper};
/// let mut sweeper = Sweeper::new(store, SweepConfig::default());
/// let report = sweeper.sweep(chrono::Utc::now()).await?;
/// println!("{} slots missed", report.missed);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Sweeper {
    store: Arc<dyn Store>,
    config: SweepConfig,
    instance: String,
    schedules: HashMap<(String, String), Option<CronSchedule>>,
    /// Each cron's baseline for slow runs and when it was read.
    baselines: HashMap<String, (DateTime<Utc>, Baseline)>,
}

/// Most rounds of `batch` crons one sweep reads, so a sweep ends even if writers keep up.
const ROUNDS_MAX: usize = 20;

/// Longest settling delay (the server's `--settle` has the same bound).
const SETTLE_MAX: Duration = Duration::from_secs(86_400);

/// Most parsed schedules kept between rounds.
const SCHEDULES_CACHED_MAX: usize = 50_000;

/// Most slots of one cron judged in one round.
const SLOTS_PER_ROUND: usize = 5000;

/// A cron's baseline for slow runs: how many finished runs it was taken from, and their p95.
type Baseline = (i64, Option<i64>);

/// How long a cron's baseline for slow runs serves: a cron marked again at every round (one
/// that ends runs every second) has it read once a minute, not once a round. The baseline is
/// a week's p95, which a minute barely moves.
const BASELINE_SECONDS: i64 = 60;

impl Sweeper {
    /// A sweeper over `store`, named after this host and process.
    pub fn new(store: Arc<dyn Store>, config: SweepConfig) -> Self {
        let me = crate::sys::this_process();
        let instance = format!("{}:{}", me.host.as_deref().unwrap_or("?"), me.pid);
        Self {
            store,
            config,
            instance,
            schedules: HashMap::new(),
            baselines: HashMap::new(),
        }
    }

    /// Names this sweeper in the shared heartbeat.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = instance.into();
        self
    }

    /// One round at `now` (pass `Utc::now()`; tests pass their own clock).
    pub async fn sweep(&mut self, now: DateTime<Utc>) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        self.baselines.retain(|_, (read, _)| {
            *read <= now && now - *read < TimeDelta::seconds(BASELINE_SECONDS)
        });
        let gap_after = self
            .config
            .every
            .saturating_mul(3)
            .max(Duration::from_secs(30));
        let (status, previous) = self
            .store
            .sweeper_beat(
                &self.instance,
                now,
                gap_after,
                self.config.settle.min(SETTLE_MAX),
            )
            .await?;
        let holding = status.settle_until.filter(|s| now < *s);
        let until = match (holding, status.gap_from) {
            (Some(_), Some(gap_from)) => gap_from.min(now),
            _ => now,
        };
        report.holding_until = holding.map(|_| until);
        // The first round past the settling delay judges the gap: what it opens is summed up.
        let catching_up = status
            .settle_until
            .is_some_and(|s| s <= now && previous.is_none_or(|p| p < s));

        let windows = OpenWindows::parse(&self.store.maintenance_windows().await?);
        let tolerance = to_delta(self.config.tolerance);

        // Crons that missed a slot count it toward their threshold: evaluated below.
        let mut to_evaluate = Vec::new();
        for _ in 0..ROUNDS_MAX {
            let due = self.store.due_crons(until, self.config.batch).await?;
            if due.is_empty() {
                break;
            }
            let full = due.len() >= self.config.batch as usize;
            self.judge(
                &due,
                &windows,
                until,
                tolerance,
                &mut report,
                &mut to_evaluate,
            )
            .await?;
            if !full {
                break;
            }
        }

        let stuck = self.store.stuck_runs().await?;
        report.stuck = stuck.len();
        to_evaluate.extend(stuck.into_iter().map(|s| s.cron_name));
        to_evaluate.sort();
        to_evaluate.dedup();

        let mut opened = Vec::new();
        for round in 0..ROUNDS_MAX {
            let also = if round == 0 { &to_evaluate[..] } else { &[] };
            let dirty = self.store.dirty_crons(self.config.batch, also).await?;
            if dirty.is_empty() {
                break;
            }
            let full = dirty.len() >= self.config.batch as usize;
            match self
                .evaluate(&dirty, &windows, now, tolerance, catching_up, &mut report)
                .await
            {
                Ok(ids) => opened.extend(ids),
                Err(e) => {
                    // Their marks were taken: put them back, so the next round evaluates
                    // these crons instead of waiting for their next run.
                    let names: Vec<String> = dirty.iter().map(|d| d.cron_name.clone()).collect();
                    if let Err(again) = self.store.mark_dirty(&names).await {
                        tracing::warn!(error = %again, crons = names.len(), "could not mark crons for the next sweep");
                    }
                    return Err(e);
                }
            }
            if !full {
                break;
            }
        }
        report.opened = opened.len();

        if catching_up {
            let details = serde_json::json!({
                "gapFrom": status.gap_from,
                "gapUntil": status.gap_until,
                "opened": opened,
            });
            self.store.record_outage_summary(now, &details).await?;
        }
        Ok(report)
    }

    async fn judge(
        &mut self,
        due: &[DueCron],
        windows: &OpenWindows,
        until: DateTime<Utc>,
        tolerance: TimeDelta,
        report: &mut SweepReport,
        missed_crons: &mut Vec<String>,
    ) -> Result<()> {
        let reach: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = due
            .iter()
            .map(|d| {
                (
                    d.cron_name.clone(),
                    d.judged_through
                        .checked_sub_signed(tolerance)
                        .unwrap_or(DateTime::<Utc>::MIN_UTC),
                    until
                        .checked_add_signed(tolerance)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC),
                )
            })
            .collect();
        let starts = self.store.starts_between(&reach).await?;
        let mut judgements = Vec::with_capacity(due.len());
        for (d, starts) in due.iter().zip(starts) {
            let judgement = match self.schedule(&d.cron_expression, &d.timezone) {
                Some(schedule) => judge_slots(
                    d,
                    &schedule,
                    &starts,
                    windows,
                    until,
                    tolerance,
                    SLOTS_PER_ROUND,
                ),
                // A stored schedule that no longer parses: stop judging it rather than fail
                // every round.
                None => super::Judgement {
                    cron_name: d.cron_name.clone(),
                    judged_through_was: d.judged_through,
                    judged_through: d.judged_through,
                    next_deadline_at: None,
                    missed: Vec::new(),
                    missed_in_row: d.missed_in_row,
                    missed_rest_slot: d.missed_rest_slot,
                },
            };
            judgements.push(judgement);
        }
        // In name order, the order in which writers lock schedule rows, so a sweep and a
        // batch of runs never wait on each other in a cycle.
        judgements.sort_by(|a, b| a.cron_name.cmp(&b.cron_name));
        let written = self.store.record_judgements(&judgements).await?;
        for (j, applied) in judgements.iter().zip(written) {
            if applied {
                report.judged += 1;
                report.missed += j.missed.len();
                if !j.missed.is_empty() {
                    missed_crons.push(j.cron_name.clone());
                }
            }
        }
        Ok(())
    }

    async fn evaluate(
        &mut self,
        dirty: &[DirtyCron],
        windows: &OpenWindows,
        now: DateTime<Utc>,
        tolerance: TimeDelta,
        after_outage: bool,
        report: &mut SweepReport,
    ) -> Result<Vec<uuid::Uuid>> {
        let names: Vec<String> = dirty.iter().map(|d| d.cron_name.clone()).collect();
        let depth = dirty
            .iter()
            .map(|d| d.failure_threshold.max(d.recovery_threshold))
            .max()
            .unwrap_or(1)
            .clamp(1, 100) as u32;
        // Enough to see a whole streak of missed rows (one per slot up to the cap, then the
        // one that counts the rest), so an incident's start is the streak's first slot.
        let read = depth * 2 + 20 + crate::rules::limits::MISSED_ROWS_MAX.unsigned_abs() as u32;
        let runs = self.store.recent_runs(&names, read).await?;
        let mut changes = Vec::new();
        for (cron, runs) in dirty.iter().zip(runs) {
            let unchecked = runs.iter().any(|r| {
                r.completed_at
                    .is_some_and(|c| cron.anomaly_checked_at.is_none_or(|a| c > a))
                    && r.reason != Some(crate::model::Reason::Missed)
            });
            let p95 = if unchecked {
                Some(self.baseline(&cron.cron_name, now).await?)
            } else {
                None
            };
            let schedule = cron
                .cron_expression
                .as_deref()
                .and_then(|e| self.schedule(e, &cron.timezone));
            let mut change = evaluate(cron, &runs, schedule.as_ref(), p95, windows, now, tolerance);
            report.evaluated += 1;
            if let Some(incident) = &mut change.open {
                incident.after_outage = after_outage;
            }
            if !change.is_empty() {
                report.replaced += change.replaced_missed.len();
                report.anomalies += change.anomalies.len();
                report.resolved += usize::from(change.resolve.is_some());
                changes.push(change);
            }
        }
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        self.store.apply_health(&changes).await
    }

    /// `cron`'s baseline for slow runs: the p95 of its newest finished runs of the last 7
    /// days, read at most once in [`BASELINE_SECONDS`].
    async fn baseline(&mut self, cron: &str, now: DateTime<Utc>) -> Result<Baseline> {
        if let Some((_, figures)) = self.baselines.get(cron) {
            return Ok(*figures);
        }
        let figures = self
            .store
            .duration_p95(cron, now - TimeDelta::days(7))
            .await?;
        self.baselines.insert(cron.to_owned(), (now, figures));
        Ok(figures)
    }

    fn schedule(&mut self, expression: &str, timezone: &str) -> Option<CronSchedule> {
        // Expressions come from users: the cache starts over rather than grow without end.
        if self.schedules.len() >= SCHEDULES_CACHED_MAX {
            self.schedules.clear();
        }
        self.schedules
            .entry((expression.to_owned(), timezone.to_owned()))
            .or_insert_with(|| CronSchedule::new(expression, timezone).ok())
            .clone()
    }
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}
