//! Every limit cronmon puts on a number or a text, in one place.
//!
//! The checks that use them are the functions at the crate root; the store, the HTTP API and
//! the attribute read these constants rather than writing the numbers again.

/// Longest cron name, in characters.
pub const CRON_NAME_MAX_CHARS: usize = 128;

/// Longest cron expression, in bytes.
pub const CRON_EXPRESSION_MAX_BYTES: usize = 256;

/// An expression whose next firing is further away than this (in seconds, about ten years)
/// never fires (`0 0 31 2 *`, the 31st of February).
pub const NEVER_FIRES_AFTER_SECS: i64 = 10 * 366 * 86_400;

/// How early a start may be for the slot it serves, by default, in milliseconds (60 s): a job
/// whose clock is a little ahead serves its coming slot, not the one before. It is a small
/// allowance for clock drift, not a window of its own; a slot's early window is also never
/// more than half the time since the slot before it (see [`slot_for_start`](crate::slot_for_start)).
pub const SLOT_TOLERANCE_DEFAULT_MS: i64 = 60_000;

/// Longest display name of a cron, in bytes.
pub const DISPLAY_NAME_MAX_BYTES: usize = 256;

/// Longest host name, boot id or program version of a run, in bytes.
pub const SHORT_TEXT_MAX_BYTES: usize = 1024;

/// Largest output or error message of a run stored as is, in bytes; anything longer is cut
/// there (at a character boundary) and marked as truncated.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Most rows a page of runs holds.
pub const PAGE_LIMIT_MAX: u32 = 200;

/// Rows a page of runs holds unless told.
pub const PAGE_LIMIT_DEFAULT: u32 = 50;

/// Widest window of the statistics, in hours (366 days).
pub const STATS_HOURS_MAX: u32 = 24 * 366;

/// Most days the timeline covers.
pub const TIMELINE_DAYS_MAX: u32 = 366;

/// Earliest year of a date in a query (`from`, `to`); the times of a run have the tighter
/// bounds [`TIME_PAST_MAX_MS`] and [`TIME_FUTURE_MAX_MS`].
pub const YEAR_MIN: i32 = 1970;

/// Latest year of a date in a query (`from`, `to`).
pub const YEAR_MAX: i32 = 9999;

/// A day, in milliseconds (what the bounds below are counted in).
pub const DAY_MS: i64 = 86_400_000;

/// Longest run, in milliseconds (366 days): the bound of a finish's `durationMs`, which is 0
/// or more.
pub const RUN_DURATION_MAX_MS: i64 = 366 * DAY_MS;

/// Longest timeout, grace or heartbeat timeout of a cron (`timeoutMs`, `graceMs`,
/// `heartbeatTimeoutMs`, and the attribute's `timeout` and `grace`), in milliseconds (30
/// days). `timeoutMs` and `heartbeatTimeoutMs` are at least 1, `graceMs` at least 0.
pub const SCHEDULE_DURATION_MAX_MS: i64 = 30 * DAY_MS;

/// How far into the future a time a client sends (`startedAt`, `completedAt`,
/// `scheduledFor`, a heartbeat's time) may be, by the clock of whoever checks it, in
/// milliseconds (1 day): enough for clocks that disagree, not enough to pin a run forever.
/// Also how far a `completedAt` may be before the `startedAt` sent with it.
pub const TIME_FUTURE_MAX_MS: i64 = DAY_MS;

/// How far into the past a time a client sends may be, in milliseconds (3660 days, about
/// ten years): far more than any retention or any run, so only a wrong clock or a wrong
/// field hits it.
pub const TIME_PAST_MAX_MS: i64 = 3660 * DAY_MS;

/// Most CPU time a run may report (`cpuMs`), in milliseconds: the longest run on 1024 CPUs.
pub const CPU_MS_MAX: i64 = RUN_DURATION_MAX_MS * 1024;

/// Largest peak memory a run may report (`maxRssKb`), in KiB: 1 PiB.
pub const MAX_RSS_KB_MAX: i64 = 1 << 40;

/// Largest progress count of a heartbeat (`done`, `total`): 10^15 items.
pub const PROGRESS_MAX: i64 = 1_000_000_000_000_000;

/// Smallest process id a run may report (`pid`); `exitCode` may be any 32-bit integer.
pub const PID_MIN: i32 = 1;

/// Longest duration written as text (`timeout = "30m"`) that parses, in milliseconds: what a
/// signed 64-bit millisecond count holds. Each field then has its own, tighter bound
/// ([`SCHEDULE_DURATION_MAX_MS`], …).
pub const DURATION_MAX_MS: i64 = i64::MAX;

/// Largest `failureThreshold` or `recoveryThreshold` of a cron: consecutive runs the sweep
/// reads back to decide, so it stays small.
pub const THRESHOLD_MAX: i64 = 100;

/// Smallest and largest `anomalyFactor` of a cron (a run slower than this many times the p95 of
/// its last 7 days is flagged); the default is [`ANOMALY_FACTOR_DEFAULT`].
pub const ANOMALY_FACTOR_MIN: f64 = 1.0;

/// Largest `anomalyFactor`.
pub const ANOMALY_FACTOR_MAX: f64 = 1000.0;

/// The `anomalyFactor` of a cron that sets none.
pub const ANOMALY_FACTOR_DEFAULT: f64 = 3.0;

/// Finished runs a cron needs in the last 7 days before a slow run is called an anomaly.
pub const ANOMALY_MIN_RUNS: i64 = 20;

/// Finished runs of the last 7 days, newest first, whose p95 is a cron's baseline for slow
/// runs: enough for a steady p95 (50 runs above it), and a bound on what the sweep reads for
/// a cron that ends a run, whatever its rate (a cron every minute ends 10,080 runs a week).
pub const ANOMALY_BASELINE_RUNS: i64 = 1000;

/// Missed slots in a row written as one row each; the ones after are counted by one more
/// row, so a job every minute that is down for days keeps a readable history.
pub const MISSED_ROWS_MAX: i64 = 60;

/// Longest maintenance window, in milliseconds (30 days).
pub const MAINTENANCE_DURATION_MAX_MS: i64 = 30 * DAY_MS;

/// Longest description of a maintenance window, in bytes.
pub const DESCRIPTION_MAX_BYTES: usize = 1024;
