//! A sync job (no async runtime anywhere) for the integration tests:
//! `cronmon-test-sync-job ok|err|early`.

use std::fmt;

/// An error with a cause, to see the chain recorded.
#[derive(Debug)]
struct ConfigError(std::io::Error);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot load the configuration")
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn step(fail: bool) -> Result<u32, ConfigError> {
    if fail {
        Err(ConfigError(std::io::Error::other("no such file: job.toml")))
    } else {
        Ok(7)
    }
}

/// The guard API: a `?` that skips `complete()` is recorded as abandoned, never as success.
fn guarded(fail: bool) -> Result<u32, ConfigError> {
    let monitor = cronmon::Monitor::from_env();
    let run = cronmon::CronRun::start(&monitor, "guard-job");
    let n = step(fail)?;
    run.complete();
    Ok(n)
}

#[cronmon::tracked_cron("sync-job")]
fn main() -> Result<(), ConfigError> {
    match std::env::args().nth(1).unwrap_or_default().as_str() {
        "ok" => step(false).map(drop),
        "err" => step(true).map(drop),
        "early" => {
            // The guard's run is abandoned; the job itself carries on and succeeds.
            let _ = guarded(true);
            guarded(false).map(drop)
        }
        "exit" => {
            // No flush, and `process::exit` skips every Drop: the exit hook still delivers
            // the guard's run; this function's own run is left for crash detection.
            let n = guarded(false)?;
            std::process::exit(i32::try_from(n).unwrap_or(1))
        }
        _ => Ok(()),
    }
}
