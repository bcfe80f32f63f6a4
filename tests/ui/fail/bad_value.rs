#[cronmon::tracked_cron("job", timeout = "five minutes")]
fn a() {}

#[cronmon::tracked_cron("job", timeout = 300)]
fn b() {}

#[cronmon::tracked_cron("job", schedule = "every day")]
fn c() {}

#[cronmon::tracked_cron("job", trigger = "cron")]
fn d() {}

#[cronmon::tracked_cron("")]
fn e() {}

#[cronmon::tracked_cron("job", timezone = "Europe / Paris")]
fn f() {}

#[cronmon::tracked_cron("job", grace = "-5m")]
fn g() {}

fn main() {}
