//! `cronmon exec NAME -- CMD [ARGS…]`: runs any command as one run of the cron `NAME`.
//!
//! The command's output passes through unchanged while its last lines are kept for the run;
//! signals sent to `cronmon exec` go to the command; `--timeout` stops it (SIGTERM, then
//! SIGKILL). Whatever happens to the monitor, `cronmon exec` exits with the command's own
//! exit code (128 + n when a signal killed it, 127 when it could not be found).

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use cronmon::{CronRun, Monitor, Reason, RunEnd};

use crate::tail::Tail;

/// Options of `cronmon exec`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  cronmon exec nightly-report --schedule \"0 3 * * *\" --timeout 30m -- ./report.sh --full"
)]
pub(crate) struct ExecArgs {
    /// The cron's name (1 to 128 printable characters).
    pub name: String,
    /// The cron's schedule, a 5-field crontab expression (`"0 3 * * *"`, `@daily`): missed
    /// runs are then detected.
    #[arg(long, value_name = "EXPR", value_parser = schedule)]
    pub schedule: Option<String>,
    /// The schedule's time zone (IANA name; default UTC).
    #[arg(long, value_name = "TZ", value_parser = timezone)]
    pub timezone: Option<String>,
    /// Stops the command after this long (SIGTERM, then SIGKILL after --kill-after) and
    /// records the run `timed_out`; also the cron's max runtime.
    #[arg(long, value_parser = timeout, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// How late a scheduled run may start before it counts as late.
    #[arg(long, value_parser = grace, value_name = "DURATION")]
    pub grace: Option<Duration>,
    /// After --timeout's SIGTERM, how long before SIGKILL.
    #[arg(long, value_parser = up_to_an_hour, default_value = "10s", value_name = "DURATION")]
    pub kill_after: Duration,
    /// Longest wait for the monitor at the end; past it the run waits in the spool.
    #[arg(long, value_parser = up_to_an_hour, default_value = "5s", value_name = "DURATION")]
    pub flush_timeout: Duration,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `--schedule`: checked before the command runs, by the rules the monitor applies (a typo
/// here would otherwise only show as a warning at each run).
fn schedule(text: &str) -> Result<String, String> {
    cronmon::rules::cron_expression(text).map_err(|e| e.message)?;
    Ok(text.to_owned())
}

/// `--timezone`: an IANA name the monitor knows.
fn timezone(text: &str) -> Result<String, String> {
    cronmon::rules::timezone(text).map_err(|e| e.message)?;
    Ok(text.to_owned())
}

/// A duration as the monitor's rules take it (`rule` gets milliseconds).
fn duration_by(text: &str, rule: fn(i64) -> cronmon::rules::Result) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| e.to_string())?;
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    rule(ms).map_err(|e| e.message)?;
    Ok(d)
}

/// `--timeout`: also the cron's max runtime, so within the monitor's bounds for it.
fn timeout(text: &str) -> Result<Duration, String> {
    duration_by(text, cronmon::rules::timeout_ms)
}

/// `--grace`: the cron's start deadline, within the monitor's bounds for it.
fn grace(text: &str) -> Result<Duration, String> {
    duration_by(text, cronmon::rules::grace_ms)
}

/// `--kill-after`, `--flush-timeout`: 0 to 1 hour.
fn up_to_an_hour(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| e.to_string())?;
    if d > Duration::from_secs(3600) {
        return Err("must be at most 1 hour (\"1h\")".into());
    }
    Ok(d)
}

/// Bytes of each stream kept for the run (the last ones).
const TAIL_BYTES: usize = 8 * 1024;
/// Lines of each stream kept for the run's error message (the last ones).
const TAIL_LINES: usize = 20;

/// Runs the command as one run; returns the exit code `cronmon exec` ends with.
pub(crate) fn exec(monitor: &Monitor, args: ExecArgs) -> i32 {
    let mut builder = CronRun::builder(monitor, &args.name);
    if let Some(expr) = &args.schedule {
        builder = builder.cron_expression(expr.clone());
    }
    if let Some(tz) = &args.timezone {
        builder = builder.timezone(tz.clone());
    }
    if let Some(t) = args.timeout {
        builder = builder.timeout(t);
    }
    if let Some(g) = args.grace {
        builder = builder.grace(g);
    }
    let run = builder.start();
    let code = run_command(run, &args);
    if !monitor.flush_blocking(args.flush_timeout) && monitor.is_enabled() {
        eprintln!("cronmon: the monitor did not answer in time; the run waits in the spool");
    }
    code
}

/// How the command ended, as far as `cronmon exec` saw it.
struct Ended {
    status: ExitStatus,
    timed_out: bool,
    forwarded: Option<i32>,
}

fn run_command(run: CronRun, args: &ExecArgs) -> i32 {
    let (program, rest) = match args.command.split_first() {
        Some(split) => split,
        None => {
            run.end_with(RunEnd::error("no command given"));
            return 2;
        }
    };
    let shown = shown_command(&args.command);
    let mut command = Command::new(program);
    command
        .args(rest)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so a timeout or a forwarded signal reaches what it started too.
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let (code, what) = match e.kind() {
                io::ErrorKind::NotFound => (127, "command not found"),
                io::ErrorKind::PermissionDenied => (126, "permission denied"),
                _ => (126, "cannot run the command"),
            };
            let message = format!("{what}: {shown}: {e}");
            eprintln!("cronmon: {message}");
            run.end_with(RunEnd::Failed {
                reason: Reason::Error,
                message,
                exit_code: Some(code),
            });
            return code;
        }
    };
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let out = pump(child.stdout.take(), io::stdout());
    let err = pump(child.stderr.take(), io::stderr());

    let done = Arc::new(AtomicBool::new(false));
    let forwarded = Arc::new(Mutex::new(None));
    let forwarder = forward_signals(pid, done.clone(), forwarded.clone());
    let (finished, finished_rx) = mpsc::channel::<()>();
    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = args.timeout.map(|timeout| {
        let timed_out = timed_out.clone();
        let kill_after = args.kill_after;
        std::thread::spawn(move || {
            if finished_rx.recv_timeout(timeout) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            timed_out.store(true, Ordering::Release);
            signal_group(pid, libc::SIGTERM);
            if finished_rx.recv_timeout(kill_after) == Err(mpsc::RecvTimeoutError::Timeout) {
                signal_group(pid, libc::SIGKILL);
            }
        })
    });

    let status = child.wait();
    done.store(true, Ordering::Release);
    drop(finished);
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    if let Some(forwarder) = forwarder {
        forwarder.close();
    }
    let stdout_tail = out.join().unwrap_or_default();
    let stderr_tail = err.join().unwrap_or_default();
    let (cpu_ms, max_rss_kb) = children_usage();
    run.set_usage(cpu_ms, max_rss_kb);
    run.set_output(serde_json::json!({
        "command": shown,
        "stdout_tail": stdout_tail.text(TAIL_LINES),
        "stderr_tail": stderr_tail.text(TAIL_LINES),
    }));
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            run.end_with(RunEnd::error(format!("cannot wait for the command: {e}")));
            return 1;
        }
    };
    let ended = Ended {
        status,
        timed_out: timed_out.load(Ordering::Acquire),
        forwarded: *forwarded.lock().unwrap_or_else(|p| p.into_inner()),
    };
    let (end, code) = judge(&ended, args.timeout, &stderr_tail, &stdout_tail);
    run.end_with(end);
    code
}

/// The run's end and the exit code, from how the command ended.
fn judge(e: &Ended, timeout: Option<Duration>, stderr: &Tail, stdout: &Tail) -> (RunEnd, i32) {
    let last_lines = || {
        let (name, tail) = if stderr.is_empty() {
            ("stdout", stdout)
        } else {
            ("stderr", stderr)
        };
        if tail.is_empty() {
            String::new()
        } else {
            format!("\n--- last lines of {name} ---\n{}", tail.text(TAIL_LINES))
        }
    };
    let timed_out = |how: &str| {
        format!(
            "timed out after {} ({how})",
            humantime::format_duration(timeout.unwrap_or_default())
        )
    };
    if let Some(signal) = e.status.signal() {
        let code = 128 + signal;
        let name = signal_name(signal);
        let (reason, message) = if e.timed_out {
            (Reason::TimedOut, timed_out(&format!("killed by {name}")))
        } else {
            (Reason::Interrupted, format!("killed by {name}"))
        };
        let end = RunEnd::Failed {
            reason,
            message: format!("{message}{}", last_lines()),
            exit_code: Some(code),
        };
        return (end, code);
    }
    let code = e.status.code().unwrap_or(1);
    if e.timed_out {
        let end = RunEnd::Failed {
            reason: Reason::TimedOut,
            message: format!(
                "{}{}",
                timed_out(&format!("exited with code {code} after SIGTERM")),
                last_lines()
            ),
            exit_code: Some(code),
        };
        return (end, code);
    }
    if code == 0 {
        return (RunEnd::Completed, 0);
    }
    let reason = match e.forwarded {
        Some(_) => Reason::Interrupted,
        None => Reason::Error,
    };
    let end = RunEnd::Failed {
        reason,
        message: format!("exited with code {code}{}", last_lines()),
        exit_code: Some(code),
    };
    (end, code)
}

/// Copies a stream of the command to ours as it comes, unchanged, keeping its last bytes.
fn pump<R: Read + Send + 'static, W: Write + Send + 'static>(
    from: Option<R>,
    mut to: W,
) -> std::thread::JoinHandle<Tail> {
    std::thread::spawn(move || {
        let mut tail = Tail::new(TAIL_BYTES);
        let Some(mut from) = from else {
            return tail;
        };
        let mut buf = [0u8; 8192];
        let mut writable = true;
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    tail.push(&buf[..n]);
                    // A closed stdout of ours (`| head`) must not stop the command: keep
                    // reading, stop writing.
                    if writable && (to.write_all(&buf[..n]).is_err() || to.flush().is_err()) {
                        writable = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        tail
    })
}

/// Forwards SIGTERM, SIGINT, SIGHUP and SIGQUIT sent to `cronmon exec` to the command's
/// group, until `done`; the handle stops forwarding when dropped.
fn forward_signals(
    pid: i32,
    done: Arc<AtomicBool>,
    forwarded: Arc<Mutex<Option<i32>>>,
) -> Option<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGQUIT]).ok()?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if done.load(Ordering::Acquire) {
                break;
            }
            *forwarded.lock().unwrap_or_else(|p| p.into_inner()) = Some(signal);
            signal_group(pid, signal);
        }
    });
    Some(handle)
}

/// Sends `signal` to the process group led by `pid`.
#[allow(unsafe_code)]
fn signal_group(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes any pid and signal number and only returns an error for bad ones.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// CPU time (user + system, ms) and peak memory (KiB) of the waited-for children: the command.
#[allow(unsafe_code)]
// The libc field types differ between platforms (i32 on 32-bit targets).
#[allow(clippy::useless_conversion)]
fn children_usage() -> (i64, i64) {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` points to writable memory the size of a `rusage`, which is all getrusage(2)
    // writes; RUSAGE_CHILDREN is always a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, ru.as_mut_ptr()) };
    if rc != 0 {
        return (0, 0);
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
    (ms(ru.ru_utime) + ms(ru.ru_stime), rss)
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGPIPE => "SIGPIPE".into(),
        libc::SIGTERM => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

/// The command as a shell would show it (for messages; lossy where it is not UTF-8).
fn shown_command(command: &[OsString]) -> String {
    command
        .iter()
        .map(|a| {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_shown_quoted() {
        let c: Vec<OsString> = ["sh", "-c", "echo 'hi' $X", ""].map(OsString::from).into();
        assert_eq!(shown_command(&c), r#"sh -c 'echo '\''hi'\'' $X' ''"#);
    }

    #[test]
    fn exit_codes_and_signals_are_judged() {
        let none = Tail::new(64);
        let mut err = Tail::new(64);
        err.push(b"line 1\nboom\n");
        let ended = |raw: i32, timed_out| Ended {
            status: ExitStatus::from_raw(raw),
            timed_out,
            forwarded: None,
        };
        assert_eq!(
            judge(&ended(0, false), None, &none, &none),
            (RunEnd::Completed, 0)
        );
        let (end, code) = judge(&ended(3 << 8, false), None, &err, &none);
        assert_eq!(code, 3);
        assert!(
            matches!(end, RunEnd::Failed { reason: Reason::Error, ref message, exit_code: Some(3) }
            if message.starts_with("exited with code 3\n--- last lines of stderr ---\nline 1\nboom"))
        );
        let (end, code) = judge(&ended(libc::SIGKILL, false), None, &none, &none);
        assert_eq!(code, 137);
        assert!(matches!(
            end,
            RunEnd::Failed {
                reason: Reason::Interrupted,
                ..
            }
        ));
        let (end, code) = judge(
            &ended(libc::SIGTERM, true),
            Some(Duration::from_secs(2)),
            &none,
            &none,
        );
        assert_eq!(code, 143);
        assert!(
            matches!(end, RunEnd::Failed { reason: Reason::TimedOut, ref message, .. }
            if message == "timed out after 2s (killed by SIGTERM)")
        );
    }
}
