//! The attribute above `#[tokio::main]`: it sees the async fn, and its run lives inside the
//! runtime.

/// Docs survive.
#[cronmon::tracked_cron("below", schedule = "*/5 * * * *", timezone = "UTC", timeout = "1h30m", grace = "5m")]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Some(run) = cronmon::current_run() {
        run.set_output(serde_json::json!({ "ok": true }));
    }
    let n: u32 = "42".parse()?;
    if n == 0 {
        return Err(anyhow::anyhow!("zero"));
    }
    Ok(())
}
