//! Recording runs stopped by SIGTERM or Ctrl-C as `failed`/`interrupted` before the process
//! goes.

#[cfg(unix)]
use super::{recorders, runs};

/// Installs (once) handlers for SIGTERM and SIGINT that record every run in progress as
/// `failed`/`interrupted` (exit code 128 + signal), flush, then end the process as the signal
/// would have. `#[tracked_cron]` calls this; guard users call it at the start of `main`.
///
/// Works in sync and async programs alike: the handler runs on a thread of its own
/// (`cronmon-signals`). A program that handles these signals itself for a graceful shutdown
/// should not call this, and end its runs itself instead.
///
/// Returns whether the handlers are installed (false where signals are not supported).
///
/// ```no_run
/// cronmon_core::install_signal_handlers();
/// ```
#[cfg(unix)]
pub fn install_signal_handlers() -> bool {
    use std::sync::OnceLock;

    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let mut signals = match Signals::new([SIGTERM, SIGINT]) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cronmon: cannot handle SIGTERM/SIGINT ({e}); a stopped job will be closed as crashed later");
                return false;
            }
        };
        let spawned = std::thread::Builder::new()
            .name("cronmon-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    on_signal(sig);
                }
            });
        spawned.is_ok()
    })
}

/// Signals are not handled on this platform.
#[cfg(not(unix))]
pub fn install_signal_handlers() -> bool {
    false
}

#[cfg(unix)]
fn on_signal(sig: i32) {
    let name = match sig {
        signal_hook::consts::SIGTERM => "SIGTERM",
        signal_hook::consts::SIGINT => "SIGINT (Ctrl-C)",
        _ => "a signal",
    };
    for run in runs::all() {
        run.interrupt(name, sig);
    }
    // Even with no run in progress, events of runs that just ended may still be queued.
    recorders::flush_all(recorders::exit_flush_timeout());
    // Die as the signal would have (the parent sees "killed by SIGTERM"), or exit with the
    // shell's code for it if that fails.
    let _ = signal_hook::low_level::emulate_default_handler(sig);
    std::process::exit(128 + sig);
}
