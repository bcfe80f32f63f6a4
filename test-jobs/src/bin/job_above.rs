//! `#[tokio::main]` above `#[tracked_cron]`: the attribute wraps tokio's generated sync `main`,
//! so the run ends after the job's runtime is gone. `cronmon-test-job-above ok|err`.

#[tokio::main(flavor = "current_thread")]
#[cronmon::tracked_cron("above-job", trigger = "manual")]
async fn main() -> Result<(), std::io::Error> {
    tokio::task::yield_now().await;
    match std::env::args().nth(1).as_deref() {
        Some("err") => Err(std::io::Error::other("upstream API answered 503")),
        _ => Ok(()),
    }
}
