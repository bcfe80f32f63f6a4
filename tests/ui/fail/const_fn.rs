#[cronmon::tracked_cron("job")]
const fn job() -> u32 {
    3
}

fn main() {}
