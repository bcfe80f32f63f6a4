#[cronmon::tracked_cron("job", failure_threshold = 2, anomaly_incidents = true, failure_threshold = 3)]
fn a() {}

fn main() {}
