//! The monitor `#[tracked_cron]` reports through: built once per process from the environment
//! (`CRONMON_URL`, …; see `Monitor::from_env`).

use std::sync::OnceLock;

use crate::monitor::Monitor;

/// The monitor of the environment, built on first use.
pub(crate) fn monitor() -> &'static Monitor {
    static MONITOR: OnceLock<Monitor> = OnceLock::new();
    MONITOR.get_or_init(Monitor::from_env)
}
