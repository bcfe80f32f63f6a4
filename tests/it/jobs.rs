//! Real job processes (the `cronmon-test-jobs` crate in `test-jobs/`), monitored by
//! `#[tracked_cron]` through `CRONMON_URL`, on real SQLite, real PostgreSQL, and a cronmon
//! server over HTTP: every way a job can end is recorded right, and nothing is lost.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cronmon::store::Store;
use cronmon::{
    CronName, CronRun, Execution, ExecutionFilter, PageRequest, Reason, ScheduleUpdate, Status,
};
use serde_json::json;

use crate::common;
use crate::common::output;
use crate::common::{Kind, LiveDest, SECRET};

// The job programs of the `cronmon-test-jobs` crate (test-jobs/).
const JOB: &str = "cronmon-test-job";
const SYNC_JOB: &str = "cronmon-test-sync-job";
const JOB_ABOVE: &str = "cronmon-test-job-above";

pub(crate) fn job(bin: &str, mode: &str, url: &str, spool: &Path) -> Command {
    let mut c = Command::new(common::job_program(bin));
    c.arg(mode)
        .env("CRONMON_URL", url)
        .env("CRONMON_SPOOL_DIR", spool)
        .env("CRON_SECRET", SECRET)
        .env_remove("DATABASE_URL")
        .env("RUST_BACKTRACE", "0")
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
        .list_executions(&filter, PageRequest::new(1, 200).unwrap())
        .await
        .unwrap()
        .items;
    runs.sort_by_key(|e| e.id);
    runs
}

/// Waits until the job has recorded its start.
async fn wait_running(store: &dyn Store, cron: &str) -> Execution {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(e) = runs_of(store, cron)
            .await
            .into_iter()
            .find(|e| e.status == Status::Running)
        {
            return e;
        }
        assert!(Instant::now() < until, "the job never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) struct Setup {
    pub(crate) dest: LiveDest,
    pub(crate) spool: PathBuf,
}

impl Setup {
    pub(crate) async fn new(kind: Kind) -> Self {
        Self {
            dest: LiveDest::new(kind).await,
            spool: common::spool_dir(),
        }
    }

    pub(crate) fn job(&self, bin: &str, mode: &str) -> Command {
        job(bin, mode, &self.dest.url, &self.spool)
    }

    pub(crate) fn store(&self) -> &dyn Store {
        &*self.dest.db.store
    }

    pub(crate) async fn finish(self) {
        assert!(
            common::spool_files(&self.spool).is_empty(),
            "nothing should be left in the spool"
        );
        let _ = std::fs::remove_dir_all(&self.spool);
        self.dest.finish().await;
    }
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn async_job_success_error_and_panic(s: &Setup) {
    let ok = output(s.job(JOB, "ok")).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let err = output(s.job(JOB, "err")).await;
    assert_eq!(err.status.code(), Some(1), "{}", stderr(&err));
    let panic = output(s.job(JOB, "panic")).await;
    assert_eq!(panic.status.code(), Some(101));
    // The panic went on unchanged: Rust's own message is there.
    assert!(stderr(&panic).contains("boom at row 7"));

    let runs = runs_of(s.store(), "test-job").await;
    assert_eq!(runs.len(), 3, "{runs:#?}");
    let (ok, err, panic) = (&runs[0], &runs[1], &runs[2]);

    assert_eq!(ok.status, Status::Completed);
    assert_eq!(ok.exit_code, Some(0));
    assert_eq!(ok.output, Some(json!({ "rows": 42 })));
    assert_eq!((ok.progress_done, ok.progress_total), (Some(42), Some(42)));
    assert_eq!(ok.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert!(ok.host.is_some() && ok.pid.is_some() && ok.cpu_ms.is_some());
    assert!(ok.max_rss_kb.unwrap() > 0);

    assert_eq!(
        (err.status, err.reason),
        (Status::Failed, Some(Reason::Error))
    );
    assert_eq!(
        err.error_message.as_deref(),
        Some("cannot write the report: disk full")
    );
    assert_eq!(err.exit_code, Some(1));

    assert_eq!(
        (panic.status, panic.reason),
        (Status::Failed, Some(Reason::Panicked))
    );
    assert!(
        panic
            .error_message
            .as_deref()
            .unwrap()
            .contains("boom at row 7")
    );
    assert_eq!(panic.exit_code, Some(101));

    // The attribute's options became the cron's settings.
    let schedules = s.store().schedules().await.unwrap();
    let sched = schedules
        .iter()
        .find(|c| c.cron_name == "test-job")
        .unwrap();
    assert_eq!(sched.cron_expression.as_deref(), Some("*/10 * * * *"));
    assert_eq!(sched.timezone, "America/New_York");
    assert_eq!(sched.timeout_ms, 600_000);
    assert_eq!(sched.grace_ms, 90_000);
    assert_eq!(sched.heartbeat_timeout_ms, Some(300_000));
    assert_eq!(sched.failure_threshold, 2);
    assert_eq!(sched.recovery_threshold, 3);
    assert_eq!(sched.anomaly_factor, 2.5);
    assert_eq!(sched.min_duration_ms, Some(1));
    assert!(sched.anomaly_incidents);
}

async fn sync_job_and_early_return(s: &Setup) {
    let ok = output(s.job(SYNC_JOB, "ok")).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let err = output(s.job(SYNC_JOB, "err")).await;
    assert_eq!(err.status.code(), Some(1));
    let early = output(s.job(SYNC_JOB, "early")).await;
    assert!(early.status.success(), "{}", stderr(&early));

    let runs = runs_of(s.store(), "sync-job").await;
    let outcomes: Vec<_> = runs.iter().map(|e| (e.status, e.reason)).collect();
    assert_eq!(
        outcomes,
        vec![
            (Status::Completed, None),
            (Status::Failed, Some(Reason::Error)),
            (Status::Completed, None),
        ]
    );
    // The error's source chain is recorded.
    assert_eq!(
        runs[1].error_message.as_deref(),
        Some("cannot load the configuration: no such file: job.toml")
    );

    // The guard API: a `?` before `complete()` is abandoned, never success.
    let guarded = runs_of(s.store(), "guard-job").await;
    let outcomes: Vec<_> = guarded.iter().map(|e| (e.status, e.reason)).collect();
    assert_eq!(
        outcomes,
        vec![
            (Status::Failed, Some(Reason::Abandoned)),
            (Status::Completed, None),
        ]
    );
}

async fn tokio_main_above_the_attribute(s: &Setup) {
    let ok = output(s.job(JOB_ABOVE, "ok")).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let err = output(s.job(JOB_ABOVE, "err")).await;
    assert_eq!(err.status.code(), Some(1));
    let runs = runs_of(s.store(), "above-job").await;
    let outcomes: Vec<_> = runs
        .iter()
        .map(|e| (e.status, e.reason, e.trigger_type))
        .collect();
    use cronmon::TriggerType::Manual;
    assert_eq!(
        outcomes,
        vec![
            (Status::Completed, None, Manual),
            (Status::Failed, Some(Reason::Error), Manual),
        ]
    );
    assert_eq!(
        runs[1].error_message.as_deref(),
        Some("upstream API answered 503")
    );
}

async fn runs_ended_before_process_exit_are_delivered(s: &Setup) {
    let exit = output(s.job(SYNC_JOB, "exit")).await;
    assert_eq!(exit.status.code(), Some(7), "{}", stderr(&exit));
    let guarded = runs_of(s.store(), "guard-job").await;
    assert_eq!(guarded.len(), 1);
    assert_eq!(guarded[0].status, Status::Completed);
    // `process::exit` skipped the attribute's end: the start is there, still running, for
    // crash detection to close.
    let own = runs_of(s.store(), "sync-job").await;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].status, Status::Running);
}

async fn sigterm_is_recorded_as_interrupted(s: &Setup) {
    let mut child = s.job(JOB, "sleep").spawn().unwrap();
    let running = wait_running(s.store(), "test-job").await;
    assert_eq!(running.pid, Some(child.id() as i32));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    // The process still dies of the signal, as it would have unmonitored.
    assert_eq!(status.signal(), Some(15), "{status:?}");

    let e = s.store().execution(running.id).await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.reason),
        (Status::Failed, Some(Reason::Interrupted))
    );
    assert_eq!(e.error_message.as_deref(), Some("interrupted by SIGTERM"));
    assert_eq!(e.exit_code, Some(143));
}

async fn kill_9_is_closed_as_crashed_by_the_next_job(s: &Setup) {
    if s.dest.kind == Kind::Http {
        return; // crash detection reads the store: over HTTP the server's sweeps do it
    }
    let mut child = s.job(JOB, "sleep").spawn().unwrap();
    let running = wait_running(s.store(), "test-job").await;
    child.kill().unwrap(); // SIGKILL: no handler, no Drop, nothing recorded
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let e = s.store().execution(running.id).await.unwrap().unwrap();
    assert_eq!(e.status, Status::Running);

    let next = output(s.job(JOB, "ok")).await;
    assert!(next.status.success(), "{}", stderr(&next));
    let e = s.store().execution(running.id).await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.reason),
        (Status::Failed, Some(Reason::Crashed))
    );
    let runs = runs_of(s.store(), "test-job").await;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].status, Status::Completed);
}

/// The monitor is down: the job's result and exit code are its own, the run waits in the
/// spool, and the next job (once the monitor is back) replays it: it appears exactly once.
async fn unreachable_monitor_loses_nothing(kind: Kind) {
    let spool = common::spool_dir();
    let mut down = common::DownDest::new(kind).await;

    let began = Instant::now();
    let err = output(job(JOB, "err", &down.url, &spool)).await;
    assert_eq!(err.status.code(), Some(1), "{}", stderr(&err));
    assert!(stderr(&err).contains("disk full"));
    assert!(began.elapsed() < Duration::from_secs(15));
    let ok = output(job(SYNC_JOB, "ok", &down.url, &spool)).await;
    assert!(ok.status.success());
    // Both runs (start and end each) wait in the spool; the second job took over the first
    // one's file when it found the monitor still down.
    let lines: usize = common::spool_files(&spool)
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap().lines().count())
        .sum();
    assert_eq!(lines, 4);

    let store = down.bring_up().await;
    let next = output(job(JOB, "ok", &down.url, &spool)).await;
    assert!(next.status.success(), "{}", stderr(&next));
    let again = output(job(JOB, "ok", &down.url, &spool)).await;
    assert!(again.status.success());

    let runs = runs_of(&*store, "test-job").await;
    let outcomes: Vec<_> = runs.iter().map(|e| (e.status, e.reason)).collect();
    assert_eq!(
        outcomes,
        vec![
            (Status::Failed, Some(Reason::Error)),
            (Status::Completed, None),
            (Status::Completed, None),
        ]
    );
    assert_eq!(runs_of(&*store, "sync-job").await.len(), 1);
    assert!(common::spool_files(&spool).is_empty());
    let _ = std::fs::remove_dir_all(&spool);
    down.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_monitor_the_job_runs_and_warns_once() {
    let mut c = Command::new(common::job_program(JOB));
    c.arg("ok")
        .env_remove("CRONMON_URL")
        .env_remove("DATABASE_URL")
        .env("CRONMON_SPOOL_DIR", common::spool_dir());
    let o = output(c).await;
    assert!(o.status.success());
    assert_eq!(
        stderr(&o).matches("unmonitored").count(),
        1,
        "{}",
        stderr(&o)
    );
}

/// `CronRun::builder`'s settings, one method each, reach the store through every destination;
/// a setting out of bounds is refused where it is stored (the API's rule, applied once) and
/// the run is recorded all the same.
async fn the_builder_declares_every_limit(kind: Kind) {
    let r = common::Recording::new(kind).await;
    let refused = CronRun::builder(&r.monitor, "built-refused")
        .timeout(Duration::from_secs(60))
        .failure_threshold(0)
        .start();
    refused.complete();
    let run = CronRun::builder(&r.monitor, "built")
        .cron_expression("30 2 * * *")
        .timezone("Europe/Paris")
        .timeout(Duration::from_secs(1800))
        .grace(Duration::from_secs(120))
        .heartbeat_timeout(Duration::from_secs(90))
        .failure_threshold(4)
        .recovery_threshold(2)
        .anomaly_factor(4.5)
        .min_duration(Duration::from_millis(1500))
        .anomaly_incidents(true)
        .schedule(ScheduleUpdate {
            display_name: Some("Built by hand".into()),
            ..ScheduleUpdate::default()
        })
        .start();
    run.complete();
    r.flush().await;

    let name = |n: &str| CronName::new(n).unwrap();
    let s = r.store().schedule(&name("built")).await.unwrap().unwrap();
    assert_eq!(s.display_name.as_deref(), Some("Built by hand"));
    assert_eq!(s.cron_expression.as_deref(), Some("30 2 * * *"));
    assert_eq!(s.timezone, "Europe/Paris");
    assert_eq!(s.timeout_ms, 1_800_000);
    assert_eq!(s.grace_ms, 120_000);
    assert_eq!(s.heartbeat_timeout_ms, Some(90_000));
    assert_eq!((s.failure_threshold, s.recovery_threshold), (4, 2));
    assert_eq!(s.anomaly_factor, 4.5);
    assert_eq!(s.min_duration_ms, Some(1500));
    assert!(s.anomaly_incidents);
    assert_eq!(runs_of(&**r.store(), "built").await.len(), 1);

    // Refused whole: its valid timeout was not applied either; its run is there.
    let s = r
        .store()
        .schedule(&name("built-refused"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.failure_threshold, 3);
    assert_eq!(s.timeout_ms, 3_600_000);
    let runs = runs_of(&**r.store(), "built-refused").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, Status::Completed);
    r.finish().await;
}

on_all_destinations!(
    async_job_success_error_and_panic,
    sync_job_and_early_return,
    tokio_main_above_the_attribute,
    runs_ended_before_process_exit_are_delivered,
    sigterm_is_recorded_as_interrupted,
    kill_9_is_closed_as_crashed_by_the_next_job,
);

on_each_kind!(
    unreachable_monitor_loses_nothing,
    the_builder_declares_every_limit
);
