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

/// Earliest year of a time a client sends.
pub const YEAR_MIN: i32 = 1970;

/// Latest year of a time a client sends.
pub const YEAR_MAX: i32 = 9999;

/// Longest duration written as text (`timeout = "30m"`), in milliseconds: what a signed
/// 64-bit millisecond count holds.
pub const DURATION_MAX_MS: i64 = i64::MAX;
