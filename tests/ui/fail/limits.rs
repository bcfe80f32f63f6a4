// The limits of schedule health: each value checked at compile time by cronmon's rules, the
// error on the literal at fault (with its sign, if any).

#[cronmon::tracked_cron("job", failure_threshold = 0)]
fn no_failures() {}

#[cronmon::tracked_cron("job", failure_threshold = -1)]
fn negative() {}

#[cronmon::tracked_cron("job", recovery_threshold = 101)]
fn too_many() {}

#[cronmon::tracked_cron("job", recovery_threshold = 99999999999999999999999)]
fn beyond_i64() {}

#[cronmon::tracked_cron("job", failure_threshold = "3")]
fn threshold_as_text() {}

#[cronmon::tracked_cron("job", failure_threshold = 2.5)]
fn fractional_threshold() {}

#[cronmon::tracked_cron("job", failure_threshold = 3u8)]
fn suffixed_threshold() {}

#[cronmon::tracked_cron("job", anomaly_factor = 0.5)]
fn faster_than_p95() {}

#[cronmon::tracked_cron("job", anomaly_factor = -3.0)]
fn negative_factor() {}

#[cronmon::tracked_cron("job", anomaly_factor = 1e400)]
fn infinite_factor() {}

#[cronmon::tracked_cron("job", anomaly_factor = "3")]
fn factor_as_text() {}

#[cronmon::tracked_cron("job", anomaly_factor = 3.0f32)]
fn suffixed_factor() {}

#[cronmon::tracked_cron("job", anomaly_incidents = "yes")]
fn not_a_bool() {}

#[cronmon::tracked_cron("job", heartbeat_timeout = "0s")]
fn no_silence() {}

#[cronmon::tracked_cron("job", heartbeat_timeout = "31d")]
fn silent_for_a_month() {}

#[cronmon::tracked_cron("job", heartbeat_timeout = 300)]
fn heartbeat_as_number() {}

#[cronmon::tracked_cron("job", min_duration = "367d")]
fn longer_than_a_year() {}

#[cronmon::tracked_cron("job", min_duration = "soon")]
fn not_a_duration() {}

fn main() {}
