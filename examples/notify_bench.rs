//! How fast the outbox is written and delivered: failed runs recorded in batches with and
//! without a channel that wants each of them (the cost of the outbox trigger on the write
//! path), then the notifications delivered by one `Notifier` to a webhook receiver on loopback
//! that answers at once (signing, claiming and recording included).
//!
//! ```sh
//! cargo run --release --example notify_bench                                   # SQLite file in a temp dir
//! cargo run --release --example notify_bench -- --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//! A PostgreSQL URL names an admin database: a scratch database `cronmon_notify_bench` is made
//! next to it, and dropped at the end.

#[path = "support/scratch.rs"]
mod scratch;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Parser;
use cronmon::notify::{
    Channel, ChannelSettings, NotificationFilter, NotificationStatus, Notifier, NotifierConfig,
    NotifyOn,
};
use cronmon::{CronName, Event, Finish, PageRequest, Start, Status, Store};
use scratch::Scratch;

/// Times the outbox: written with failed runs, delivered by a notifier.
#[derive(Debug, Parser)]
struct Args {
    /// Database to measure: a PostgreSQL admin URL (a scratch database is made next to it);
    /// by default a SQLite file in a temp dir.
    #[arg(long)]
    database_url: Option<String>,
    /// Failed runs (so notifications) to write and deliver.
    #[arg(long, default_value_t = 5_000)]
    runs: usize,
    /// Notifications claimed and sent at once.
    #[arg(long, default_value_t = 64)]
    batch: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let scratch = Scratch::new(args.database_url.as_deref(), "cronmon_notify_bench").await?;
    let result = run(&args, &scratch.url).await;
    scratch.drop_it().await?;
    result
}

async fn run(args: &Args, url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = cronmon::store::connect(url).await?;
    let received = Arc::new(AtomicU64::new(0));
    let receiver = {
        let received = received.clone();
        let app = axum::Router::new().fallback(move || {
            let received = received.clone();
            async move {
                received.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    };

    // Failed runs with no channel: the trigger's early exit.
    let bare = record_failures(store.as_ref(), "bare", args.runs).await?;
    let channel = Channel::new(
        "bench",
        ChannelSettings::Webhook {
            url: receiver,
            secret: Some("a-bench-secret-of-some-length".into()),
        },
    )
    .on(&[NotifyOn::FailedRun]);
    store.put_channel(&channel, Utc::now()).await?;
    let with = record_failures(store.as_ref(), "notified", args.runs).await?;
    println!(
        "write: {} failed runs in batches of 100: {:.0} runs/s without a channel, {:.0} runs/s with one notification each",
        args.runs,
        args.runs as f64 / bare.as_secs_f64(),
        args.runs as f64 / with.as_secs_f64(),
    );

    let notifier = Notifier::new(
        store.clone(),
        NotifierConfig {
            batch: args.batch,
            ..NotifierConfig::default()
        },
    )?;
    let started = Instant::now();
    loop {
        let report = notifier.round(Utc::now()).await?;
        if report.claimed == 0 {
            break;
        }
    }
    let took = started.elapsed();
    let delivered = store
        .notifications(
            &NotificationFilter {
                status: Some(NotificationStatus::Delivered),
                ..NotificationFilter::default()
            },
            PageRequest { page: 1, limit: 1 },
        )
        .await?
        .total;
    println!(
        "deliver: {delivered} notifications in {:.2} s: {:.0} notifications/s (receiver got {})",
        took.as_secs_f64(),
        delivered as f64 / took.as_secs_f64(),
        received.load(Ordering::Relaxed),
    );
    store.close().await;
    Ok(())
}

/// Records `n` failed runs of `n` crons named `<prefix>-<i>` in batches of 100 (starts and
/// ends), as the recorder would; answers how long it took.
async fn record_failures(
    store: &dyn Store,
    prefix: &str,
    n: usize,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let mut events = Vec::with_capacity(2 * n);
    for i in 0..n {
        let start = Start::now(CronName::new(format!("{prefix}-{}", i % 500))?);
        let mut finish = Finish::now(start.id, Status::Failed);
        finish.reason = Some(cronmon::Reason::Error);
        finish.error_message = Some("exit status 1".into());
        events.push(Event::Start(start));
        events.push(Event::Finish(finish));
    }
    let started = Instant::now();
    for chunk in events.chunks(100) {
        for verdict in store.record_batch(chunk).await? {
            verdict?;
        }
    }
    Ok(started.elapsed())
}
