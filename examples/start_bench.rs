//! How long `CronRun::start` takes on the job's thread (it only queues).
//!
//! ```sh
//! cargo run --release --example start_bench
//! ```

use std::time::{Duration, Instant};

use cronmon::{CronRun, Monitor};

fn main() -> Result<(), cronmon::Error> {
    let spool = std::env::temp_dir().join(format!("cronmon-bench-{}", std::process::id()));
    let monitor = Monitor::builder("sqlite::memory:")
        .spool_dir(&spool)
        .build()?;
    // Warm up: the recorder thread, the host facts, the allocator.
    CronRun::start(&monitor, "warm-up").complete();
    monitor.flush_blocking(Duration::from_secs(30));

    // Batches below the queue's capacity, so every start is a plain enqueue.
    let batch = 2_000;
    let mut samples = Vec::new();
    for _ in 0..20 {
        let began = Instant::now();
        let runs: Vec<_> = (0..batch)
            .map(|_| CronRun::start(&monitor, "bench"))
            .collect();
        samples.push(began.elapsed() / batch);
        drop(runs); // abandoned: one more event each
        monitor.flush_blocking(Duration::from_secs(30));
    }
    samples.sort();
    println!(
        "CronRun::start: median {:?}, best {:?}, worst {:?} per call ({} batches of {batch})",
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1],
        samples.len()
    );
    println!("{:?}", monitor.stats());
    let _ = std::fs::remove_dir_all(&spool);
    Ok(())
}
