#[cronmon::tracked_cron("job", retries = "3")]
fn a() {}

#[cronmon::tracked_cron("job", "other-name")]
fn b() {}

fn main() {}
