//! Every supported shape: sync and async, `()`, `Result` (std errors, `Box<dyn Error>`,
//! aliases), `ExitCode`, generics, methods, `impl Trait`, a type whose name holds "impl"
//! (`Pimpl<T>`), early `return` and `?`, renamed crate path, and options in every form the
//! rules accept.

use std::process::ExitCode;

use cronmon::tracked_cron;

#[tracked_cron("unit")]
fn unit() {}

#[tracked_cron("io")]
fn io(fail: bool) -> std::io::Result<u32> {
    if fail {
        return Err(std::io::Error::other("nope"));
    }
    let n: u32 = "7".parse().map_err(std::io::Error::other)?;
    Ok(n)
}

type MyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tracked_cron("boxed")]
fn boxed() -> MyResult<()> {
    Err("boxed failure".into())
}

/// Generic, with a where clause; `#[must_use]` survives.
#[must_use]
#[tracked_cron("generic")]
fn generic<T: std::fmt::Display>(value: T) -> String
where
    T: Clone,
{
    value.to_string()
}

#[tracked_cron("iter")]
fn iter() -> impl Iterator<Item = u8> {
    vec![1, 2].into_iter()
}

/// A type whose name holds "impl" is not an `impl Trait`: the body still sees the declared
/// return type, so `Box::new(3)` coerces to the trait object.
struct Pimpl<T>(T);

#[tracked_cron("pimpl")]
fn pimpl() -> Pimpl<Box<dyn std::fmt::Display>> {
    Pimpl(Box::new(3))
}

#[tracked_cron("pimpl-async")]
async fn pimpl_async() -> Pimpl<Box<dyn std::fmt::Display + Send>> {
    Pimpl(Box::new(4))
}

#[tracked_cron("impl-in-result")]
fn impl_in_result() -> Result<impl std::fmt::Display, std::fmt::Error> {
    Ok(5)
}

#[tracked_cron(
    "options",
    schedule = "@daily",
    timezone = "Europe/Paris",
    timeout = "1h 30min",
    grace = "0s",
    flush_timeout = "2s 500ms"
)]
fn options() {}

// The limits at their bounds, numbers as integer or float literals, a trailing comma.
#[tracked_cron(
    "limits",
    heartbeat_timeout = "30d",
    failure_threshold = 1,
    recovery_threshold = 100,
    anomaly_factor = 1000,
    min_duration = "0ms",
    anomaly_incidents = false,
)]
fn limits() {}

#[tracked_cron(
    "limits-async",
    failure_threshold = 100,
    recovery_threshold = 1,
    anomaly_factor = 1.0,
    min_duration = "366d",
    anomaly_incidents = true
)]
async fn limits_async() {}

#[tracked_cron("async", crate = "cronmon")]
async fn later(x: u8) -> Result<u8, std::fmt::Error> {
    Ok(x)
}

struct Job {
    rows: u32,
}

impl Job {
    #[tracked_cron("method")]
    fn run(&self) -> Result<u32, std::io::Error> {
        Ok(self.rows)
    }
}

#[tracked_cron("exit-code")]
fn main() -> ExitCode {
    unit();
    assert_eq!(io(false).unwrap(), 7);
    assert!(io(true).is_err());
    assert!(boxed().is_err());
    assert_eq!(generic(3), "3");
    assert_eq!(iter().count(), 2);
    // The future of an annotated async fn stays `Send` (it can be spawned).
    fn assert_send<T: Send>(_: T) {}
    assert_send(later(1));
    assert_eq!(Job { rows: 2 }.run().unwrap(), 2);
    assert_eq!(pimpl().0.to_string(), "3");
    assert_send(pimpl_async());
    assert_eq!(impl_in_result().unwrap().to_string(), "5");
    options();
    limits();
    assert_send(limits_async());
    ExitCode::SUCCESS
}
