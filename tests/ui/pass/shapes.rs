//! Every supported shape: sync and async, `()`, `Result` (std errors, `Box<dyn Error>`,
//! aliases), `ExitCode`, generics, methods, `impl Trait`, early `return` and `?`, renamed
//! crate path.

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
    ExitCode::SUCCESS
}
