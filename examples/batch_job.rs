//! A monitored batch job: one `BatchRun` of the kind `kbIndexation` over 245 documents, with
//! four worker threads, every item counted, a few failed.
//!
//! Run with:
//!
//! ```sh
//! CRONMON_URL=sqlite://cronmon.db cargo run --example batch_job
//! CRONMON_URL=sqlite://cronmon.db cargo run --example batch_job -- fail   # a failed run
//! sqlite3 cronmon.db 'SELECT kind, status, total_items, done_items, failed_items FROM batch_runs'
//! ```
//!
//! Against a running server, `CRONMON_URL=http://127.0.0.1:8080/api/admin CRON_SECRET=…`; the
//! dashboard then shows the run's progress bar while it runs. Stop it with Ctrl-C and the run
//! is recorded `failed` ("interrupted by SIGINT").

use std::time::Duration;

use cronmon::Monitor;
use cronmon::batch::BatchRun;

fn main() -> Result<(), String> {
    cronmon::install_signal_handlers();
    let fail = std::env::args().nth(1).as_deref() == Some("fail");
    let monitor = Monitor::from_env();
    let documents: Vec<u64> = (1..=245).collect();
    let run = BatchRun::builder(&monitor, "kbIndexation")
        .total(documents.len() as u64)
        .start();
    let result = std::thread::scope(|s| {
        for chunk in documents.chunks(62) {
            let handle = run.handle();
            s.spawn(move || {
                for doc in chunk {
                    std::thread::sleep(Duration::from_millis(20)); // index it
                    if doc % 40 == 0 {
                        handle.advance(0, 1);
                    } else {
                        handle.advance(1, 0);
                    }
                }
            });
        }
        if fail {
            Err("the search index is read-only".to_owned())
        } else {
            Ok(())
        }
    });
    println!("{} indexed, {} failed", run.done(), run.failed());
    // `finish` ends the run from the result: Ok completed, Err failed with its message. (A `?`
    // before it would drop the run: failed, "ended without completion".)
    run.finish(&result);
    monitor.flush_blocking(Duration::from_secs(5));
    result
}
