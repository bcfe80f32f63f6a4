//! Process-wide state, in one place: what lives as long as the job's process and is shared by
//! every monitor and run in it.
//!
//! - [`recorders`]: the process's default recorder (started on first use), every other live
//!   recorder, and the flush at exit (`atexit`) with its timeout;
//! - [`runs`]: the runs in progress, which the signal handler ends and `current_run` finds;
//! - [`panic`]: the panic hook that keeps each thread's last panic message for guards dropped
//!   while unwinding;
//! - [`signal`]: the SIGTERM/SIGINT handlers that end the runs in progress and flush;
//! - [`env`]: the monitor `#[tracked_cron]` reports through, built once from the environment.
//!
//! Dependencies point one way: `recorders` knows only the recorder, `runs` and `panic` know
//! nothing else of the crate, `signal` uses those three, and only `env` (above `Monitor`)
//! knows a monitor. A run registers itself through the [`runs::ActiveRun`] trait, so this
//! module never names the run type.

pub(crate) mod env;
pub(crate) mod panic;
pub(crate) mod recorders;
pub(crate) mod runs;
pub(crate) mod signal;
