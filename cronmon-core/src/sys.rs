//! What the recorder learns about the job's process and machine: host name, boot id, CPU time,
//! peak memory, and whether another process is still alive. Linux gives all of it; elsewhere
//! an answer may be `None` and runs are recorded without it.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

/// Facts about this process that never change while it runs, read once.
#[derive(Debug)]
pub(crate) struct ProcessInfo {
    pub(crate) host: Option<String>,
    pub(crate) pid: i32,
    pub(crate) boot_id: Option<String>,
}

pub(crate) fn this_process() -> &'static ProcessInfo {
    static INFO: OnceLock<ProcessInfo> = OnceLock::new();
    INFO.get_or_init(|| ProcessInfo {
        host: host_name(),
        pid: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
        boot_id: boot_id(),
    })
}

fn read_trimmed(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The machine's host name (gethostname(2); on Linux the same as
/// `/proc/sys/kernel/hostname`), if it is valid UTF-8 and not empty.
fn host_name() -> Option<String> {
    let name = gethostname::gethostname().into_string().ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

fn boot_id() -> Option<String> {
    read_trimmed("/proc/sys/kernel/random/boot_id")
}

/// CPU time (user + system) used so far by this process, in ms, and its peak resident memory
/// in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub(crate) cpu_ms: Option<i64>,
    pub(crate) max_rss_kb: Option<i64>,
}

#[cfg(unix)]
#[allow(unsafe_code)]
// The libc field types differ between platforms (i32 on 32-bit targets).
#[allow(clippy::useless_conversion)]
pub(crate) fn usage() -> Usage {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` points to writable memory the size of a `rusage`, which is all
    // getrusage(2) writes; RUSAGE_SELF is always a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    if rc != 0 {
        return Usage::default();
    }
    // SAFETY: getrusage returned 0, so it filled the struct (and it was zeroed before).
    let ru = unsafe { ru.assume_init() };
    let ms = |tv: libc::timeval| i64::from(tv.tv_sec) * 1000 + i64::from(tv.tv_usec) / 1000;
    // Linux reports ru_maxrss in KiB; macOS in bytes.
    let rss = i64::from(ru.ru_maxrss);
    let rss = if cfg!(target_os = "macos") {
        rss / 1024
    } else {
        rss
    };
    Usage {
        cpu_ms: Some(ms(ru.ru_utime) + ms(ru.ru_stime)),
        max_rss_kb: Some(rss),
    }
}

#[cfg(not(unix))]
pub(crate) fn usage() -> Usage {
    Usage::default()
}

/// What this host can tell about process `pid` on it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PidState {
    /// No such process.
    Gone,
    /// A process with this pid started at this time (to the second).
    StartedAt(DateTime<Utc>),
    /// This host cannot tell (not Linux, no /proc).
    Unknown,
}

#[cfg(target_os = "linux")]
pub(crate) fn pid_state(pid: i32) -> PidState {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return PidState::Unknown;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return PidState::Gone;
    };
    // The command name (field 2) may hold spaces and parentheses: fields restart after the
    // last ')'. starttime is field 22, in clock ticks since boot.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return PidState::Unknown;
    };
    let Some(ticks) = rest
        .split_whitespace()
        .nth(19)
        .and_then(|t| t.parse::<i64>().ok())
    else {
        return PidState::Unknown;
    };
    let (Some(btime), Some(hz)) = (boot_time(), clock_ticks()) else {
        return PidState::Unknown;
    };
    let millis = btime * 1000 + ticks * 1000 / hz;
    DateTime::from_timestamp_millis(millis).map_or(PidState::Unknown, PidState::StartedAt)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn pid_state(_pid: i32) -> PidState {
    PidState::Unknown
}

#[cfg(target_os = "linux")]
fn boot_time() -> Option<i64> {
    static BTIME: OnceLock<Option<i64>> = OnceLock::new();
    *BTIME.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn clock_ticks() -> Option<i64> {
    // SAFETY: sysconf only reads a constant of the C library; _SC_CLK_TCK is a valid name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then_some(hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_is_alive_and_started_before_now() {
        let me = this_process();
        match pid_state(me.pid) {
            PidState::StartedAt(t) => assert!(t <= Utc::now() + chrono::Duration::seconds(1)),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(pid_state(i32::MAX), PidState::Gone);
        assert!(me.boot_id.is_some());
        // gethostname(2) and the kernel's file agree, as crash detection relies on.
        assert_eq!(me.host, read_trimmed("/proc/sys/kernel/hostname"));
        assert!(usage().cpu_ms.is_some());
    }
}
