//! An async job for the integration tests, monitored by one attribute:
//! `cronmon-test-job ok|err|panic|sleep`. The monitor comes from `CRONMON_URL`.

use std::time::Duration;

// Every setting the attribute declares, so the tests can read each back from the store.
#[cronmon::tracked_cron(
    "test-job",
    schedule = "*/10 * * * *",
    timezone = "America/New_York",
    timeout = "10m",
    grace = "90s",
    heartbeat_timeout = "5m",
    failure_threshold = 2,
    recovery_threshold = 3,
    anomaly_factor = 2.5,
    min_duration = "1ms",
    anomaly_incidents = true,
    flush_timeout = "4s"
)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    match mode.as_str() {
        "ok" => {
            if let Some(run) = cronmon::current_run() {
                run.set_output(serde_json::json!({ "rows": 42 }));
                run.progress(42, 42);
            }
            Ok(())
        }
        "err" => Err(anyhow::anyhow!("disk full").context("cannot write the report")),
        "panic" => panic!("boom at row 7"),
        "sleep" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        }
        other => anyhow::bail!("unknown mode `{other}`"),
    }
}
