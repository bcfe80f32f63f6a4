#[cronmon::tracked_cron("job", timeout = "5m", grace = "1m", timeout = "10m")]
fn a() {}

fn main() {}
