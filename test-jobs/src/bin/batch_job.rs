//! A batch job for the integration tests, recording one `BatchRun` of the kind `test-batch`:
//! `cronmon-test-batch-job ok|early|panic|sleep|workers`. The monitor comes from
//! `CRONMON_URL`.

use std::process::ExitCode;
use std::time::Duration;

use cronmon::Monitor;
use cronmon::batch::BatchRun;

const KIND: &str = "test-batch";

/// 50 items, every 7th one failed.
fn index_all(monitor: &Monitor) {
    let run = BatchRun::builder(monitor, KIND).total(50).start();
    for item in 1..=50u64 {
        if item % 7 == 0 {
            run.advance(0, 1);
        } else {
            run.advance(1, 0);
        }
    }
    run.complete();
}

/// Stops at the 5th item with an error: the `?` skips `complete()`.
fn index_until_error(monitor: &Monitor) -> Result<(), String> {
    let run = BatchRun::builder(monitor, KIND).total(50).start();
    for item in 1..=50u64 {
        if item == 5 {
            return Err("the index is locked".to_owned());
        }
        run.advance(1, 0);
    }
    run.complete();
    Ok(())
}

/// Four worker threads share the run through handles: 4 × 250 items.
fn with_workers(monitor: &Monitor) {
    let run = BatchRun::builder(monitor, KIND).total(1000).start();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let handle = run.handle();
            s.spawn(move || {
                for _ in 0..250 {
                    handle.advance(1, 0);
                }
            });
        }
    });
    run.complete();
}

fn main() -> ExitCode {
    cronmon::install_signal_handlers();
    let monitor = Monitor::from_env();
    let code = match std::env::args().nth(1).unwrap_or_default().as_str() {
        "ok" => {
            index_all(&monitor);
            ExitCode::SUCCESS
        }
        "early" => match index_until_error(&monitor) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("batch job failed: {e}");
                ExitCode::from(3)
            }
        },
        "panic" => {
            let run = BatchRun::builder(&monitor, KIND).total(10).start();
            run.advance(2, 0);
            panic!("boom at item 3");
        }
        "sleep" => {
            let run = BatchRun::builder(&monitor, KIND).total(100).start();
            run.advance(10, 0);
            // The last item of a throttled second is sent with the next report: force one.
            run.set_total(100);
            std::thread::sleep(Duration::from_secs(60));
            run.complete();
            ExitCode::SUCCESS
        }
        "workers" => {
            with_workers(&monitor);
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("unknown mode `{other}`");
            ExitCode::from(2)
        }
    };
    monitor.flush_blocking(Duration::from_secs(5));
    code
}
