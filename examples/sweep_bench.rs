//! How long one sweep of schedule health takes: 10,000 schedules, 1,000 of them due in the same
//! minute (the issue's figure: under 1 s on both databases), then an idle sweep.
//!
//! ```sh
//! cargo run --release --example sweep_bench                                   # SQLite file in a temp dir
//! cargo run --release --example sweep_bench -- --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//! A PostgreSQL URL names an admin database: a scratch database `cronmon_sweep_bench` is made
//! next to it, and dropped at the end.
//!
//! The due crons run every minute with a grace of 1 min and a failure threshold of 1, so
//! each one's missed slot also opens an incident (the heaviest case); the others (`*/5 * * * *`,
//! `0 * * * *`, `30 2 * * *`) have a grace of 5 min, so at the clock of the timed sweep none of
//! their slots has passed its deadline yet. The sweeps run at a clock of the bench's choosing
//! (`Sweeper::sweep(now)`), up to two minutes ahead of the real one: the bench waits only, at
//! most 15 s, for the due crons to be upserted within one minute.

#[path = "support/scratch.rs"]
mod scratch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use clap::Parser;
use cronmon::health::{SweepConfig, SweepReport, Sweeper};
use cronmon::{CronName, ScheduleUpdate, Store};
use scratch::Scratch;

/// Times `Sweeper::sweep` over many schedules with some due at once.
#[derive(Debug, Parser)]
struct Args {
    /// Database to measure: a PostgreSQL admin URL (a scratch database is made next to it);
    /// by default a SQLite file in a temp dir.
    #[arg(long)]
    database_url: Option<String>,
    /// Schedules in all.
    #[arg(long, default_value_t = 10_000)]
    crons: usize,
    /// Of which due in the timed sweep (every minute, 1 min grace).
    #[arg(long, default_value_t = 1_000)]
    due: usize,
    /// Schedules upserted at once while filling.
    #[arg(long, default_value_t = 8)]
    writers: usize,
}

const ZONES: [&str; 5] = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Adelaide",
];
const NOT_DUE: [&str; 3] = ["*/5 * * * *", "0 * * * *", "30 2 * * *"];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.due > args.crons {
        return Err("--due cannot exceed --crons".into());
    }
    let scratch = Scratch::new(args.database_url.as_deref(), "cronmon_sweep_bench").await?;
    let result = run(&args, &scratch.url).await;
    scratch.drop_it().await?;
    result
}

async fn run(args: &Args, url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = cronmon::store::connect(url).await?;
    println!("database: {}", cronmon::store::redact(url));

    let began = Instant::now();
    fill(&store, args).await?;
    let filled = Utc::now();
    println!(
        "upserted {} schedules ({} due every minute) in {:.1?}",
        args.crons,
        args.due,
        began.elapsed()
    );

    // Gaps in the sweeper's heartbeat longer than 3 × `every` hold judging back; the bench's
    // clock jumps up to 2 min between sweeps, which a sweeper every minute does not call a gap.
    let config = SweepConfig {
        every: Duration::from_secs(60),
        ..SweepConfig::default()
    };
    let mut sweeper = Sweeper::new(store.clone(), config).with_instance("sweep-bench");

    // Every upserted schedule asks for its cursor: this sweep computes each next deadline.
    let (took, setup) = timed(&mut sweeper, filled).await?;
    println!("cursor sweep: {:.1?} ({})", took, describe(&setup));

    // The every-minute crons' first slot after the fill is at most `next_minute`; its deadline
    // (1 min of grace) has passed at `at`. Every other slot is a minute later or has 5 min of
    // grace, so no other cron is due.
    let next_minute = filled
        .duration_trunc(TimeDelta::minutes(1))
        .map_err(|e| format!("cannot round the clock: {e}"))?
        + TimeDelta::minutes(1);
    let at = next_minute + TimeDelta::minutes(1);
    let (took, due) = timed(&mut sweeper, at).await?;
    println!(
        "due sweep: {} of {} crons due: {:.1?} ({})",
        args.due,
        args.crons,
        took,
        describe(&due)
    );
    if due.judged != args.due {
        eprintln!(
            "warning: {} crons were judged, not {}: filling took too long for the chosen clock",
            due.judged, args.due
        );
    }

    let (took, idle) = timed(&mut sweeper, at + TimeDelta::seconds(10)).await?;
    println!("idle sweep: {:.1?} ({})", took, describe(&idle));
    store.close().await;
    Ok(())
}

async fn timed(
    sweeper: &mut Sweeper,
    now: DateTime<Utc>,
) -> Result<(Duration, SweepReport), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let report = sweeper.sweep(now).await?;
    Ok((t.elapsed(), report))
}

fn describe(r: &SweepReport) -> String {
    format!(
        "judged {}, missed {}, evaluated {}, opened {}",
        r.judged, r.missed, r.evaluated, r.opened
    )
}

/// The schedules: `due` every-minute crons spread among the others by name, all in a few
/// zones. The due ones are upserted last, within one minute of the clock (waiting for the
/// next if this one is nearly over), so each has exactly one slot due in the timed sweep.
async fn fill(store: &Arc<dyn Store>, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let every = (args.crons / args.due.max(1)).max(1);
    let (mut due, mut others) = (Vec::new(), Vec::new());
    for i in 0..args.crons {
        // Shifted by the row of `every`, so the due crons too are spread over the zones.
        let zone = ZONES[(i + i / every) % ZONES.len()].to_owned();
        let name = CronName::new(format!("sweep-{i:05}"))?;
        if due.len() < args.due && i % every == 0 {
            due.push((
                name,
                ScheduleUpdate {
                    cron_expression: Some("* * * * *".into()),
                    timezone: Some(zone),
                    grace_ms: Some(60_000),
                    failure_threshold: Some(1),
                    ..ScheduleUpdate::default()
                },
            ));
        } else {
            others.push((
                name,
                ScheduleUpdate {
                    cron_expression: Some(NOT_DUE[i % NOT_DUE.len()].into()),
                    timezone: Some(zone),
                    grace_ms: Some(300_000),
                    ..ScheduleUpdate::default()
                },
            ));
        }
    }
    upsert_all(store, others, args.writers).await?;
    let into_minute = Utc::now().timestamp().rem_euclid(60);
    if into_minute > 45 {
        let wait = u64::try_from(61 - into_minute).unwrap_or(1);
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
    let minute = Utc::now().timestamp().div_euclid(60);
    upsert_all(store, due, args.writers).await?;
    if Utc::now().timestamp().div_euclid(60) != minute {
        eprintln!("warning: the due crons took over 15 s to upsert; some have two slots due");
    }
    Ok(())
}

async fn upsert_all(
    store: &Arc<dyn Store>,
    plan: Vec<(CronName, ScheduleUpdate)>,
    writers: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let plan = Arc::new(plan);
    let writers = writers.max(1);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, plan) = (store.clone(), plan.clone());
        tasks.push(tokio::spawn(async move {
            for (name, update) in plan.iter().skip(w).step_by(writers) {
                store.upsert_schedule(name, update).await?;
            }
            Ok::<_, cronmon::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}
