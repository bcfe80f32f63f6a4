//! The recorders of this process: the default one every monitor shares unless built with its
//! own, the others (for the exit flush and the signal handler), and the flush at exit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::recorder::{Recorder, RecorderStats};

/// The default recorder, started by the first monitor that needs it.
static SHARED: OnceLock<Arc<Recorder>> = OnceLock::new();

/// Recorders of their own (`MonitorBuilder::own_recorder`), while a monitor holds them.
static OWN: Mutex<Vec<Weak<Recorder>>> = Mutex::new(Vec::new());

static EXIT_FLUSH_MS: AtomicU64 = AtomicU64::new(5000);

/// The process's default recorder, started (with the exit flush registered) on first use.
pub(crate) fn shared() -> Arc<Recorder> {
    SHARED
        .get_or_init(|| {
            flush_at_exit();
            Recorder::start()
        })
        .clone()
}

/// The default recorder's counters, without starting it (all zero when it never started).
pub(crate) fn shared_stats() -> RecorderStats {
    SHARED.get().map(|r| r.stats()).unwrap_or_default()
}

/// A recorder of its own for one monitor (and its clones), flushed at exit and on a signal like
/// the default one.
pub(crate) fn own() -> Arc<Recorder> {
    let recorder = Recorder::start();
    let mut own = OWN.lock().unwrap_or_else(|p| p.into_inner());
    own.retain(|r| r.strong_count() > 0);
    own.push(Arc::downgrade(&recorder));
    drop(own);
    // The default recorder's first use registers the exit flush; make sure it is registered
    // even when only recorders of their own exist.
    flush_at_exit();
    recorder
}

/// Sets how long the signal handler and the exit hook wait for delivery before letting the
/// process go (default 5 s; what is left is in the spool).
pub(crate) fn set_exit_flush_timeout(timeout: Duration) {
    EXIT_FLUSH_MS.store(
        u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

pub(crate) fn exit_flush_timeout() -> Duration {
    Duration::from_millis(EXIT_FLUSH_MS.load(Ordering::Relaxed))
}

/// Flushes every recorder of the process, all within `timeout`; whether all made it.
pub(crate) fn flush_all(timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    let mut all: Vec<Arc<Recorder>> = SHARED.get().cloned().into_iter().collect();
    all.extend(
        OWN.lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade),
    );
    let mut done = true;
    for recorder in all {
        done &= recorder.flush_blocking(until.saturating_duration_since(Instant::now()));
    }
    done
}

/// Flushes when the process exits normally (`main` returns, `std::process::exit`), so a run
/// ended just before is not lost with the recorder thread even if nobody called `flush`.
/// Registered once.
#[cfg(unix)]
#[allow(unsafe_code)]
fn flush_at_exit() {
    extern "C" fn at_exit() {
        // Unwinding out of an `extern "C"` function aborts: contain any panic.
        let _ = std::panic::catch_unwind(|| flush_all(exit_flush_timeout()));
    }
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        // SAFETY: `at_exit` is a plain `extern "C" fn()` that never unwinds (panics are
        // caught) and only uses process-wide state that lives until exit.
        let rc = unsafe { libc::atexit(at_exit) };
        if rc != 0 {
            eprintln!(
                "cronmon: cannot register the exit flush; call Monitor::flush before exiting"
            );
        }
    });
}

#[cfg(not(unix))]
fn flush_at_exit() {}
