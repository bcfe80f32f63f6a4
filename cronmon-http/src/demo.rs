//! `--demo`: six example crons and a realistic week of history (successes, failures with
//! their messages and JSON outputs, one run going on, one stuck), and the seed's three batch
//! kinds with a week of batch runs and one going on each, so a newcomer sees a living
//! dashboard at once.

use chrono::{DateTime, Duration, Utc};
use cronmon_core::batch::{BatchEvent, BatchRunFilter};
use cronmon_core::rules;
use cronmon_core::{
    CronName, Event, ExecutionFilter, Finish, Heartbeat, PageRequest, Reason, ScheduleUpdate,
    Start, Status, Store, TriggerType,
};
use serde_json::json;

/// The demo crons: name, display name, expression, typical duration (ms), timeout (ms).
const DEMO_CRONS: [(&str, &str, &str, i64, i64); 6] = [
    (
        "monitor-openai",
        "Monitor OpenAI Budget",
        "0 9 * * *",
        1_400,
        600_000,
    ),
    (
        "check-alerts",
        "Check System Alerts",
        "0 * * * *",
        2_100,
        300_000,
    ),
    (
        "refresh-mv",
        "Refresh Materialized Views",
        "0 */6 * * *",
        45_000,
        1_800_000,
    ),
    (
        "reanalyze-kb",
        "Reanalyze KB Failures",
        "0 3 * * *",
        180_000,
        3_600_000,
    ),
    (
        "index-kb",
        "Index KB (progressive)",
        "*/5 * * * *",
        38_000,
        600_000,
    ),
    (
        "acquisition",
        "Weekly Acquisition Report",
        "0 10 * * 0",
        95_000,
        1_800_000,
    ),
];

const TIMEZONE: &str = "Africa/Tunis";

/// The demo batch kinds: kind, a run every (minutes), items a run (from, to), minutes a run
/// (from, to), one failed item in (0: none), how far the running run is (%), its errors.
struct DemoKind {
    kind: &'static str,
    every_min: i64,
    items: (u64, u64),
    minutes: (u64, u64),
    item_failure_in: u64,
    running_pct: i64,
    errors: &'static [&'static str],
}

const DEMO_KINDS: [DemoKind; 3] = [
    DemoKind {
        kind: "kbIndexation",
        every_min: 30,
        items: (120, 300),
        minutes: (4, 14),
        item_failure_in: 80,
        running_pct: 62,
        errors: &[
            "Embedding service unavailable (503) after 5 retries",
            "Killed: out of memory while chunking doc 8812",
        ],
    },
    DemoKind {
        kind: "webCrawls",
        every_min: 120,
        items: (2_500, 6_000),
        minutes: (25, 55),
        item_failure_in: 40,
        running_pct: 27,
        errors: &["crawler: robots.txt fetch failed for 38 hosts in a row, stopping"],
    },
    DemoKind {
        kind: "qualityAnalysis",
        every_min: 60,
        items: (40, 120),
        minutes: (2, 9),
        item_failure_in: 0,
        running_pct: 85,
        errors: &["Rate limited by the LLM API (429), gave up after 5 retries"],
    },
];

/// A seeded generator (one per cron), so every demo database looks alike.
struct Rng(fastrand::Rng);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(fastrand::Rng::with_seed(seed))
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        self.0.u64(..n.max(1))
    }
}

fn failure(cron: &str, rng: &mut Rng) -> (&'static str, i32) {
    let choices: &[(&str, i32)] = match cron {
        "monitor-openai" => &[("OpenAI API timeout after 30s (GET /v1/usage)", 1)],
        "check-alerts" => &[("psql: could not connect to server: Connection refused", 2)],
        "refresh-mv" => &[
            (
                "REFRESH MATERIALIZED VIEW mv_kb_metadata: deadlock detected",
                1,
            ),
            ("canceling statement due to statement timeout", 1),
        ],
        "reanalyze-kb" => &[(
            "Rate limited by embeddings API (429), gave up after 5 retries",
            1,
        )],
        "index-kb" => &[
            ("Embedding service unavailable (503)", 1),
            ("Killed: out of memory while chunking doc 8812", 137),
        ],
        _ => &[("SMTP error: 421 too many connections", 1)],
    };
    choices[rng.below(choices.len() as u64) as usize]
}

fn output(cron: &str, rng: &mut Rng) -> serde_json::Value {
    match cron {
        "monitor-openai" => {
            let consumed = 2.0 + rng.below(600) as f64 / 100.0;
            json!({"openai": {"status": "accessible"},
                   "budget": {"consumedUsd": consumed, "remainingUsd": 10.0 - consumed}})
        }
        "check-alerts" => json!({"checked": 12, "alertsSent": rng.below(3)}),
        "refresh-mv" => {
            json!({"views": ["mv_kb_metadata", "mv_doc_stats"], "rows": 120_000 + rng.below(5_000)})
        }
        "reanalyze-kb" => json!({"retried": rng.below(40), "fixed": rng.below(30)}),
        "index-kb" => {
            json!({"processed": 50, "chunks": 400 + rng.below(200), "remaining": rng.below(3_000)})
        }
        _ => json!({"newUsers": 30 + rng.below(40), "reportSent": true}),
    }
}

/// A UUIDv7 made from `at`, so a run's id sorts as one made then would.
fn id_at(at: DateTime<Utc>) -> uuid::Uuid {
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        at.timestamp() as u64,
        at.timestamp_subsec_nanos(),
    ))
}

/// Fills `store` with the demo crons and a week of their runs unless it already holds runs,
/// and with the demo batch kinds' week of batch runs unless it already holds batch runs.
/// Returns how many runs and batch runs it wrote.
pub async fn fill(store: &dyn Store) -> cronmon_core::Result<usize> {
    let now = Utc::now();
    let batch_runs = fill_batches(store, now).await?;
    let existing = store
        .list_executions(&ExecutionFilter::default(), PageRequest::new(1, 1)?)
        .await?;
    if existing.total > 0 {
        return Ok(batch_runs);
    }
    let mut events = Vec::new();
    let mut runs = 0;
    for (i, (name, display, expression, typical_ms, timeout_ms)) in DEMO_CRONS.iter().enumerate() {
        let cron_name = CronName::new(*name)?;
        store
            .upsert_schedule(
                &cron_name,
                &ScheduleUpdate {
                    display_name: Some((*display).into()),
                    cron_expression: Some((*expression).into()),
                    timezone: Some(TIMEZONE.into()),
                    is_enabled: Some(true),
                    timeout_ms: Some(*timeout_ms),
                    grace_ms: Some(120_000),
                    heartbeat_timeout_ms: None,
                    failure_threshold: Some(3),
                    recovery_threshold: Some(1),
                    ..ScheduleUpdate::default()
                },
            )
            .await?;
        let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1) * 0x1000_0001));
        let mut slot = now - Duration::days(7);
        let mut slots: Vec<DateTime<Utc>> = Vec::new();
        while let Some(next) = rules::next_run_at(Some(expression), TIMEZONE, slot) {
            if next >= now {
                break;
            }
            slots.push(next);
            slot = next;
        }
        let last = slots.len().saturating_sub(1);
        for (k, at) in slots.into_iter().enumerate() {
            let started_at = at + Duration::milliseconds(rng.below(3_000) as i64 + 200);
            let mut start = Start::now(cron_name.clone());
            start.started_at = started_at;
            start.scheduled_for = Some(at);
            start.trigger_type = if rng.below(40) == 0 {
                TriggerType::Manual
            } else {
                TriggerType::Scheduled
            };
            start.host = Some("qadhya-prod-1".into());
            start.pid = Some(1000 + rng.below(60_000) as i32);
            start.version = Some("2.14.0".into());
            start.id = id_at(started_at);
            let id = start.id;
            events.push(Event::Start(start));
            runs += 1;
            let duration = *typical_ms / 2 + rng.below(*typical_ms as u64) as i64;
            let finished_at = started_at + Duration::milliseconds(duration);
            // The newest index-kb run goes on; the newest refresh-mv one hangs (stuck).
            if k == last && *name == "index-kb" {
                events.push(Event::Heartbeat(Heartbeat {
                    id,
                    at: now,
                    done: Some(30),
                    total: Some(50),
                }));
                continue;
            }
            if k == last && *name == "refresh-mv" {
                continue;
            }
            if finished_at > now {
                continue; // still running at "now": leave it running
            }
            // check-alerts fails its last three runs (an outage going on: an alert for 3+
            // consecutive failures); failures are sparse elsewhere.
            let failed = if *name == "check-alerts" {
                k + 3 > last || rng.below(25) == 0
            } else {
                rng.below(12) == 0
            };
            let mut finish = Finish::now(
                id,
                if failed {
                    Status::Failed
                } else {
                    Status::Completed
                },
            );
            finish.completed_at = finished_at;
            finish.duration_ms = Some(duration);
            if failed {
                let (message, code) = failure(name, &mut rng);
                finish.reason = Some(if code == 137 {
                    Reason::Crashed
                } else {
                    Reason::Error
                });
                finish.error_message = Some(message.into());
                finish.exit_code = Some(code);
                finish.output = Some(json!({"stage": "run", "attempt": 1 + rng.below(3)}));
            } else {
                finish.exit_code = Some(0);
                finish.output = Some(output(name, &mut rng));
            }
            events.push(Event::Finish(finish));
        }
    }
    for chunk in events.chunks(500) {
        for r in store.record_batch(chunk).await? {
            r?;
        }
    }
    // The hanging refresh-mv run is stuck once older than its timeout (30 min); if the
    // schedule put it later than that, add one that started 95 minutes ago.
    let stuck_start = {
        let mut s = Start::now(CronName::new("refresh-mv")?);
        s.started_at = now - Duration::minutes(95);
        s.host = Some("qadhya-prod-1".into());
        s.pid = Some(31_337);
        s
    };
    if store.stuck_runs().await?.is_empty() {
        store.record_start(&stuck_start).await?;
        runs += 1;
    }
    Ok(runs + batch_runs)
}

/// A week of batch runs of the demo kinds, each recorded as a batch run reports itself (its
/// start, then its end with its counts), some failed, and one run of each kind going on.
/// Nothing when the store already holds batch runs. Returns how many it wrote.
async fn fill_batches(store: &dyn Store, now: DateTime<Utc>) -> cronmon_core::Result<usize> {
    if !store
        .batch_runs(&BatchRunFilter::default(), None, 1)
        .await?
        .is_empty()
    {
        return Ok(0);
    }
    let mut events = Vec::new();
    let mut runs = 0;
    for (i, k) in DEMO_KINDS.iter().enumerate() {
        let mut rng = Rng::new(0xB47C_5EED ^ ((i as u64 + 1) * 0x0100_0193));
        let report = |started_at: DateTime<Utc>, rng: &mut Rng| {
            let mut e = BatchEvent::start(k.kind, None);
            e.id = id_at(started_at);
            e.started_at = started_at;
            e.at = started_at;
            e.total = Some((k.items.0 + rng.below(k.items.1 - k.items.0)) as i64);
            e.host = Some(format!("qadhya-worker-{}", 1 + rng.below(3)));
            e
        };
        let mut slot = now - Duration::days(7);
        loop {
            let started_at = slot + Duration::seconds(rng.below(90) as i64 + 5);
            let minutes = k.minutes.0 + rng.below(k.minutes.1 - k.minutes.0);
            let ended_at =
                started_at + Duration::seconds(minutes as i64 * 60 + rng.below(60) as i64);
            // The newest slot's run is the one going on (the last one that has ended before
            // it, if its slot came too late).
            if ended_at >= now - Duration::minutes(k.every_min) {
                break;
            }
            let start = report(started_at, &mut rng);
            let total = start.total.unwrap_or(0);
            let item_failures = |rng: &mut Rng, n: i64| {
                if k.item_failure_in == 0 {
                    0
                } else {
                    (0..n).filter(|_| rng.below(k.item_failure_in) == 0).count() as i64
                }
            };
            let mut end = start.clone();
            end.at = ended_at;
            if rng.below(14) == 0 {
                // Stopped part way: what it counted so far stands.
                let reached = total * (20 + rng.below(60) as i64) / 100;
                end.failed = item_failures(&mut rng, reached);
                end.done = reached - end.failed;
                end.status = Status::Failed;
                end.error_message =
                    Some(k.errors[rng.below(k.errors.len() as u64) as usize].into());
            } else {
                end.failed = item_failures(&mut rng, total);
                end.done = total - end.failed;
                end.status = Status::Completed;
            }
            events.push(Event::Batch(start));
            events.push(Event::Batch(end));
            runs += 1;
            slot += Duration::minutes(k.every_min);
        }
        // The run going on: started within its usual time, reported a few seconds ago.
        let minutes = (k.minutes.0 + k.minutes.1) as i64 / 2;
        let started_at = now - Duration::seconds(minutes * 60 * k.running_pct / 100 + 20);
        let start = report(started_at, &mut rng);
        let mut progress = start.clone();
        let reached = start.total.unwrap_or(0) * k.running_pct / 100;
        progress.failed = match k.item_failure_in {
            0 => 0,
            n => reached / n as i64,
        };
        progress.done = reached - progress.failed;
        progress.at = now - Duration::seconds(3);
        events.push(Event::Batch(start));
        events.push(Event::Batch(progress));
        runs += 1;
    }
    for chunk in events.chunks(500) {
        for r in store.record_batch(chunk).await? {
            r?;
        }
    }
    Ok(runs)
}
