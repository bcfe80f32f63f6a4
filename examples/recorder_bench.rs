//! How many events a job process's recorder delivers per second straight to the database
//! (group commit from the recorder thread), the figure the README's Speed table reports.
//!
//! ```sh
//! cargo run --release --features postgres --example recorder_bench -- postgres://postgres@127.0.0.1/cronmon_bench_rec 200000
//! ```
//! The URL's database must exist (cronmon creates its schema). Runs are spread over 100 crons;
//! each run is two events (start, completion).

use std::time::{Duration, Instant};

use cronmon::{CronRun, Monitor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let events: usize = args.next().map_or(Ok(200_000), |s| s.parse())?;
    let spool = std::env::temp_dir().join(format!("cronmon-rec-bench-{}", std::process::id()));
    let monitor = Monitor::builder(&url).spool_dir(&spool).build()?;
    CronRun::start(&monitor, "warm-up").complete();
    monitor.flush_blocking(Duration::from_secs(30));

    let names: Vec<String> = (0..100).map(|i| format!("bench-{i}")).collect();
    // Chunks below the queue's capacity (8192 events), so nothing overflows to the spool and
    // every event is delivered by the recorder thread.
    let chunk_runs = 2_000;
    let began = Instant::now();
    let mut sent = 0;
    while sent < events {
        for i in 0..chunk_runs {
            CronRun::start(&monitor, &names[i % names.len()]).complete();
        }
        sent += 2 * chunk_runs;
        if !monitor.flush_blocking(Duration::from_secs(60)) {
            return Err("flush timed out".into());
        }
    }
    let took = began.elapsed();
    let stats = monitor.stats();
    println!(
        "{sent} events delivered in {took:.2?} = {:.0} events/s ({stats:?})",
        sent as f64 / took.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&spool);
    Ok(())
}
