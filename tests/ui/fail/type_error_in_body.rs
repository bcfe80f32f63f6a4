// Errors in the body still point at the user's own lines, sync and async.

#[cronmon::tracked_cron("job")]
fn sync_job() -> Result<u32, std::io::Error> {
    Ok("not a number")
}

#[cronmon::tracked_cron("job")]
async fn async_job() -> Result<u32, std::io::Error> {
    Ok("not a number")
}

fn main() {}
