//! A monitored job: one attribute on `main`, and every run is recorded.
//!
//! Run with:
//!
//! ```sh
//! CRONMON_URL=sqlite://cronmon.db cargo run --example job
//! CRONMON_URL=sqlite://cronmon.db cargo run --example job -- fail    # a failed run
//! sqlite3 cronmon.db 'SELECT cron_name, status, reason, duration_ms, error_message FROM cron_executions'
//! ```
//!
//! With no `CRONMON_URL` (nor `DATABASE_URL`) the job still runs, unmonitored, with one
//! warning. Stop it with Ctrl-C and the run is recorded `failed`/`interrupted`.

use std::time::Duration;

#[derive(Debug)]
struct ReportError(&'static str);

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot build the report: {}", self.0)
    }
}

impl std::error::Error for ReportError {}

// `schedule`, `timezone` and `timeout` are optional: they declare the cron's settings, so the
// dashboard knows when it is due and when a run is stuck.
#[cronmon::tracked_cron(
    "nightly-report",
    schedule = "0 3 * * *",
    timezone = "Europe/Paris",
    timeout = "10m"
)]
fn main() -> Result<(), ReportError> {
    let fail = std::env::args().nth(1).as_deref() == Some("fail");
    let total = 5;
    for done in 1..=total {
        std::thread::sleep(Duration::from_millis(200));
        // The body reaches its run to report progress and output.
        if let Some(run) = cronmon::current_run() {
            run.progress(done, total);
        }
    }
    if fail {
        return Err(ReportError("the sales table is empty"));
    }
    if let Some(run) = cronmon::current_run() {
        run.set_output(serde_json::json!({ "rows": 1234, "file": "report.csv" }));
    }
    println!("report written");
    Ok(())
}
