#[cronmon::tracked_cron("job")]
struct Job;

#[cronmon::tracked_cron("job")]
const LIMIT: u32 = 3;

fn main() {}
