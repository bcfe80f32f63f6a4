#[cronmon::tracked_cron]
fn a() {}

#[cronmon::tracked_cron(timeout = "5m")]
fn b() {}

#[cronmon::tracked_cron(job)]
fn c() {}

fn main() {}
