// The attribute applies cronmon's own rules (the ones the server and the store apply) at
// compile time, each error on the literal at fault.

#[cronmon::tracked_cron("job", schedule = "61 * * * *")]
fn minute_61() {}

#[cronmon::tracked_cron("job", schedule = "0 0 31 2 *")]
fn never_fires() {}

#[cronmon::tracked_cron("job", timezone = "Mars/Base")]
fn unknown_zone() {}

#[cronmon::tracked_cron("job", timeout = "forever")]
fn endless() {}

#[cronmon::tracked_cron("job", timeout = "0s")]
fn no_time() {}

#[cronmon::tracked_cron("bad\nname")]
fn control_character() {}

#[cronmon::tracked_cron(" padded")]
fn padded() {}

#[cronmon::tracked_cron("job", flush_timeout = "0ms")]
fn no_flush() {}

#[cronmon::tracked_cron("job", timeout = "31d")]
fn longer_than_a_month() {}

#[cronmon::tracked_cron("job", grace = "1y")]
fn a_year_late() {}

fn main() {}
