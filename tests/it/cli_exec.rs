//! `cronmon exec`, the real binary wrapping real commands, recording to real SQLite, real
//! PostgreSQL and a cronmon server over HTTP: exit codes kept, output passed through byte for
//! byte (invalid UTF-8, very long lines) with its last lines kept for the run, a command killed
//! by a signal, a timeout, a command that does not exist, SIGTERM forwarded; and a monitor
//! down whose spool the next `cronmon exec` replays.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cronmon::store::Store;
use cronmon::{CronName, Execution, ExecutionFilter, PageRequest, Reason, Status};

use crate::common;
use crate::common::output;
use crate::common::{Kind, LiveDest, SECRET};

fn cronmon(url: &str, spool: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(common::cli_binary());
    c.args(args)
        .env("CRONMON_URL", url)
        .env("CRON_SECRET", SECRET)
        .env("CRONMON_SPOOL_DIR", spool)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

async fn runs_of(store: &dyn Store, cron: &str) -> Vec<Execution> {
    let filter = ExecutionFilter {
        cron_name: Some(cron.into()),
        ..Default::default()
    };
    let mut runs = store
        .list_executions(&filter, PageRequest::new(1, 100).unwrap())
        .await
        .unwrap()
        .items;
    runs.sort_by_key(|e| e.id);
    runs
}

struct Setup {
    dest: LiveDest,
    spool: std::path::PathBuf,
}

impl Setup {
    async fn new(kind: Kind) -> Self {
        Self {
            dest: LiveDest::new(kind).await,
            spool: common::spool_dir(),
        }
    }

    fn exec(&self, args: &[&str]) -> Command {
        cronmon(&self.dest.url, &self.spool, args)
    }

    fn store(&self) -> &dyn Store {
        &*self.dest.db.store
    }

    async fn finish(self) {
        assert!(common::spool_files(&self.spool).is_empty());
        let _ = std::fs::remove_dir_all(&self.spool);
        self.dest.finish().await;
    }
}

async fn exit_codes_output_and_signals(s: &Setup) {
    let ok = output(s.exec(&["exec", "wrapped", "--schedule", "*/5 * * * *", "--", "true"])).await;
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let three = output(s.exec(&[
        "exec",
        "wrapped",
        "--",
        "sh",
        "-c",
        "echo working; echo 'cannot open db.sqlite' >&2; exit 3",
    ]))
    .await;
    assert_eq!(three.status.code(), Some(3));
    // Passed through unchanged.
    assert_eq!(three.stdout, b"working\n");
    assert_eq!(three.stderr, b"cannot open db.sqlite\n");
    let killed = output(s.exec(&["exec", "wrapped", "--", "sh", "-c", "kill -KILL $$"])).await;
    assert_eq!(killed.status.code(), Some(137));

    let runs = runs_of(s.store(), "wrapped").await;
    assert_eq!(runs.len(), 3);
    assert_eq!(
        (runs[0].status, runs[0].exit_code),
        (Status::Completed, Some(0))
    );
    assert!(runs[0].cpu_ms.is_some() && runs[0].max_rss_kb.is_some());
    assert_eq!(
        (runs[1].status, runs[1].reason, runs[1].exit_code),
        (Status::Failed, Some(Reason::Error), Some(3))
    );
    assert_eq!(
        runs[1].error_message.as_deref(),
        Some("exited with code 3\n--- last lines of stderr ---\ncannot open db.sqlite")
    );
    assert_eq!(
        (runs[2].reason, runs[2].exit_code),
        (Some(Reason::Interrupted), Some(137))
    );
    assert_eq!(runs[2].error_message.as_deref(), Some("killed by SIGKILL"));
    let schedule = s
        .store()
        .schedule(&CronName::new("wrapped").unwrap())
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(schedule.cron_expression.as_deref(), Some("*/5 * * * *"));
}

async fn bytes_pass_through_and_the_tail_is_bounded(s: &Setup) {
    // Invalid UTF-8, and a 300 KB line, on stdout; stderr's last line.
    let script = "printf 'a\\377b\\n'; head -c 300000 /dev/zero | tr '\\0' x; echo; \
                  echo 'the end' >&2; exit 1";
    let o = output(s.exec(&["exec", "noisy", "--", "sh", "-c", script])).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(&o.stdout[..4], b"a\xffb\n");
    assert_eq!(o.stdout.len(), 4 + 300_000 + 1);
    let runs = runs_of(s.store(), "noisy").await;
    let run = &runs[0];
    assert!(run.error_message.as_deref().unwrap().ends_with("the end"));
    let output = run.output.as_ref().expect("output").to_string();
    assert!(
        output.len() < 20_000,
        "the tail is bounded: {}",
        output.len()
    );
}

async fn timeouts_and_missing_commands(s: &Setup) {
    let began = Instant::now();
    let slow = output(s.exec(&[
        "exec",
        "slow",
        "--timeout",
        "1s",
        "--kill-after",
        "1s",
        "--",
        "sh",
        "-c",
        "trap '' TERM; sleep 30",
    ]))
    .await;
    assert_eq!(slow.status.code(), Some(137));
    assert!(began.elapsed() < Duration::from_secs(20));
    let missing = output(s.exec(&["exec", "slow", "--", "no-such-command-here"])).await;
    assert_eq!(missing.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("command not found"));

    let runs = runs_of(s.store(), "slow").await;
    assert_eq!(
        (runs[0].reason, runs[0].exit_code),
        (Some(Reason::TimedOut), Some(137))
    );
    assert_eq!(
        runs[0].error_message.as_deref(),
        Some("timed out after 1s (killed by SIGKILL)")
    );
    assert_eq!(
        (runs[1].status, runs[1].exit_code),
        (Status::Failed, Some(127))
    );
    assert!(
        runs[1]
            .error_message
            .as_deref()
            .unwrap()
            .starts_with("command not found: no-such-command-here")
    );
}

async fn sigterm_is_forwarded(s: &Setup) {
    let mut child = s
        .exec(&["exec", "forwarded", "--", "sleep", "30"])
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while runs_of(s.store(), "forwarded").await.is_empty() {
        assert!(Instant::now() < until, "never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the command start, then stop the wrapper as cron or systemd would.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(143), "{status:?}");
    let runs = runs_of(s.store(), "forwarded").await;
    assert_eq!(
        (runs[0].status, runs[0].reason, runs[0].exit_code),
        (Status::Failed, Some(Reason::Interrupted), Some(143))
    );
}

/// The monitor is down: the command's exit code all the same, with a warning; the next
/// `cronmon exec`, with the monitor back, replays the spooled run.
async fn monitor_down_then_replayed(kind: Kind) {
    let spool = common::spool_dir();
    let mut down = common::DownDest::new(kind).await;
    let o = output(cronmon(
        &down.url,
        &spool,
        &["exec", "offline", "--", "sh", "-c", "exit 4"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    assert!(!common::spool_files(&spool).is_empty());
    let store = down.bring_up().await;
    let o = output(cronmon(
        &down.url,
        &spool,
        &["exec", "offline", "--", "true"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0));
    let runs = runs_of(&*store, "offline").await;
    let ends: Vec<_> = runs.iter().map(|r| (r.status, r.exit_code)).collect();
    assert_eq!(
        ends,
        vec![(Status::Failed, Some(4)), (Status::Completed, Some(0))]
    );
    assert!(common::spool_files(&spool).is_empty());
    let _ = std::fs::remove_dir_all(&spool);
    down.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_invocations_are_clear_errors() {
    let spool = common::spool_dir();
    let cases: [(&[&str], &str); 7] = [
        (&["exec", "x", "echo", "hi"], "unexpected argument"),
        (&["exec", "x"], "required"),
        (&["frobnicate"], "unrecognized subcommand"),
        (
            &["exec", "x", "--schedule", "61 * * * *", "--", "true"],
            "--schedule",
        ),
        (
            &["exec", "x", "--timezone", "Mars/Olympus", "--", "true"],
            "--timezone",
        ),
        (
            &["exec", "x", "--timeout", "900d", "--", "true"],
            "--timeout",
        ),
        (
            &["exec", "x", "--kill-after", "2h", "--", "true"],
            "--kill-after",
        ),
    ];
    for (args, says) in cases {
        let o = output(cronmon("sqlite:///nonexistent/x.db", &spool, args)).await;
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
    let _ = std::fs::remove_dir_all(&spool);
}

on_all_destinations!(
    exit_codes_output_and_signals,
    bytes_pass_through_and_the_tail_is_bounded,
    timeouts_and_missing_commands,
    sigterm_is_forwarded,
);

on_each_kind!(monitor_down_then_replayed);
