//! `#[tokio::main]` above the attribute: it sees tokio's sync `main`, and its run wraps the
//! whole runtime.

#[tokio::main]
#[cronmon::tracked_cron("above", trigger = "manual", flush_timeout = "2s")]
async fn main() {
    tokio::task::yield_now().await;
}
