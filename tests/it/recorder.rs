//! The recorder in process: the guard API, `track`, the spool and its replay, crash detection,
//! on real SQLite, real PostgreSQL, and a cronmon server over HTTP.
//!
//! The tests run in parallel. Each monitor that reports somewhere is built with a recorder of
//! its own (`MonitorBuilder::own_recorder`): its own queue, counters and flush deadline, so a
//! destination that is down on purpose holds up only its own test, and counters are never
//! changed by another test. None installs a process-wide handler (the signal and exit-flush
//! tests run real job processes: the `jobs` module). The last two tests use the process's shared
//! recorder, as `#[tracked_cron]` does, with destinations that are always up.

use std::time::Duration;

use cronmon::store::Store;
use cronmon::{
    CronRun, Execution, ExecutionFilter, Monitor, PageRequest, Reason, ScheduleUpdate, Start,
    Status, TriggerType,
};
use serde_json::json;

use crate::common;
use crate::common::server::TestServer;
use crate::common::{Kind, SECRET, TestDb};

const FLUSH: Duration = Duration::from_secs(15);

use crate::common::Recording as Setup;

async fn runs_of(store: &dyn Store, cron: &str) -> Vec<Execution> {
    let filter = ExecutionFilter {
        cron_name: Some(cron.into()),
        ..Default::default()
    };
    store
        .list_executions(&filter, PageRequest::new(1, 200).unwrap())
        .await
        .unwrap()
        .items
}

async fn one_run(store: &dyn Store, id: uuid::Uuid) -> Execution {
    store.execution(id).await.unwrap().expect("run stored")
}

async fn guard_records_every_ending(s: &Setup) {
    let m = &s.monitor;

    let run = CronRun::builder(m, "guard")
        .trigger(TriggerType::Manual)
        .version("9.9.9")
        .start();
    let completed = run.id();
    run.set_output(json!({ "rows": 3 }));
    run.progress(3, 3);
    std::thread::sleep(Duration::from_millis(5));
    run.complete();

    let run = CronRun::start(m, "guard");
    let failed = run.id();
    run.fail(
        anyhow::anyhow!("disk full").context("cannot write the report"),
        Some(3),
    );

    let run = CronRun::start(m, "guard");
    let finished = run.id();
    run.finish(&Err::<(), _>(std::io::Error::other("nope")));

    let abandoned = {
        let run = CronRun::start(m, "guard");
        run.id()
    };

    let m2 = m.clone();
    let panicked = std::thread::spawn(move || {
        let run = CronRun::start(&m2, "guard");
        let id = run.id();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _run = run;
            panic!("row 7 is corrupt");
        }));
        assert!(r.is_err());
        id
    })
    .join()
    .unwrap();

    s.flush().await;
    let store = &**s.store();

    let e = one_run(store, completed).await;
    assert_eq!(e.status, Status::Completed);
    assert_eq!(e.trigger_type, TriggerType::Manual);
    assert_eq!(e.exit_code, Some(0));
    assert_eq!(e.output, Some(json!({ "rows": 3 })));
    assert_eq!(e.version.as_deref(), Some("9.9.9"));
    assert_eq!(e.pid, Some(std::process::id() as i32));
    assert!(e.host.is_some());
    assert!(e.duration_ms.unwrap() >= 5, "{e:?}");
    assert!(e.cpu_ms.is_some() && e.max_rss_kb.unwrap() > 0);
    assert_eq!((e.progress_done, e.progress_total), (Some(3), Some(3)));

    let e = one_run(store, failed).await;
    assert_eq!((e.status, e.reason), (Status::Failed, Some(Reason::Error)));
    assert_eq!(
        e.error_message.as_deref(),
        Some("cannot write the report: disk full")
    );
    assert_eq!(e.exit_code, Some(3));

    let e = one_run(store, finished).await;
    assert_eq!((e.status, e.reason), (Status::Failed, Some(Reason::Error)));
    assert_eq!(e.error_message.as_deref(), Some("nope"));
    assert_eq!(e.exit_code, Some(1));

    let e = one_run(store, abandoned).await;
    assert_eq!(
        (e.status, e.reason),
        (Status::Failed, Some(Reason::Abandoned))
    );
    assert_eq!(e.error_message.as_deref(), Some("ended without completion"));

    let e = one_run(store, panicked).await;
    assert_eq!(
        (e.status, e.reason),
        (Status::Failed, Some(Reason::Panicked))
    );
    assert!(
        e.error_message
            .as_deref()
            .unwrap()
            .contains("row 7 is corrupt"),
        "{e:?}"
    );
    assert_eq!(e.exit_code, Some(101));

    assert_eq!(runs_of(store, "guard").await.len(), 5);
}

async fn track_records_the_future_result(s: &Setup) {
    let m = &s.monitor;
    let ok: Result<u32, std::io::Error> = m.track("tracked", async { Ok(1) }).await;
    assert_eq!(ok.unwrap(), 1);
    let err: Result<(), std::io::Error> = m
        .track("tracked", async { Err(std::io::Error::other("bad input")) })
        .await;
    assert!(err.is_err());
    // A future dropped before it ends is abandoned.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(10),
        m.track("tracked", async {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }),
    )
    .await;
    assert!(cancelled.is_err());
    s.flush().await;

    let mut runs = runs_of(&**s.store(), "tracked").await;
    runs.sort_by_key(|e| e.id);
    let outcomes: Vec<_> = runs.iter().map(|e| (e.status, e.reason)).collect();
    assert_eq!(
        outcomes,
        vec![
            (Status::Completed, None),
            (Status::Failed, Some(Reason::Error)),
            (Status::Failed, Some(Reason::Abandoned)),
        ]
    );
    assert_eq!(runs[1].error_message.as_deref(), Some("bad input"));
}

async fn many_runs_are_each_stored_once(s: &Setup) {
    let ids: Vec<_> = (0..300)
        .map(|i| {
            let run = CronRun::start(&s.monitor, &format!("bulk-{}", i % 3));
            let id = run.id();
            run.complete();
            id
        })
        .collect();
    s.flush().await;
    let page = s
        .store()
        .list_executions(
            &ExecutionFilter::default(),
            PageRequest::new(1, 200).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 300);
    for id in ids.iter().step_by(37) {
        assert_eq!(one_run(&**s.store(), *id).await.status, Status::Completed);
    }
}

/// Thousands of events waiting at once: a store takes them in several transactions, a server
/// in several requests sent side by side (a run's events in one lane, in order). Each run is
/// stored once and whole, and nothing goes to the spool.
async fn a_backlog_is_delivered_whole_and_once(s: &Setup) {
    let ids: Vec<_> = (0..3000)
        .map(|i| {
            let run = CronRun::start(&s.monitor, &format!("backlog-{}", i % 7));
            let id = run.id();
            if i % 5 == 0 {
                run.fail("broken", Some(2));
            } else {
                run.complete();
            }
            id
        })
        .collect();
    s.flush().await;
    let stats = s.monitor.stats();
    assert_eq!(stats.spooled, 0, "{stats:?}");
    assert_eq!(stats.delivered, 6000, "{stats:?}");
    let filter = ExecutionFilter::default();
    let page = s
        .store()
        .list_executions(&filter, PageRequest::new(1, 200).unwrap())
        .await
        .unwrap();
    assert_eq!(page.total, 3000);
    for (i, id) in ids.iter().enumerate().step_by(101) {
        let run = one_run(&**s.store(), *id).await;
        let expected = if i % 5 == 0 {
            Status::Failed
        } else {
            Status::Completed
        };
        assert_eq!(run.status, expected, "run {i}");
    }
}

/// Our own host facts, as the recorder reads them.
fn this_host() -> (String, String) {
    let read = |p| std::fs::read_to_string(p).unwrap().trim().to_owned();
    (
        read("/proc/sys/kernel/hostname"),
        read("/proc/sys/kernel/random/boot_id"),
    )
}

/// A pid no process has now.
fn dead_pid() -> i32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    child.wait().unwrap();
    pid
}

async fn runs_of_dead_processes_are_closed_as_crashed(s: &Setup) {
    if s.dest.kind == Kind::Http {
        return; // the server's own sweeps close them: a remote job cannot see their hosts
    }
    let (host, boot) = this_host();
    let start = |pid: i32, boot: &str, ago: i64| {
        let mut st = Start::now(cronmon::CronName::new("crashy").unwrap());
        st.started_at = chrono::Utc::now() - chrono::Duration::seconds(ago);
        st.host = Some(host.clone());
        st.pid = Some(pid);
        st.boot_id = Some(boot.to_owned());
        st
    };
    let dead = start(dead_pid(), &boot, 30);
    let alive = start(std::process::id() as i32, &boot, 1);
    let other_boot = start(dead_pid(), "another-boot", 30);
    // Our pid, but the run started before this process did: the pid was reused.
    let reused = start(std::process::id() as i32, &boot, 3600 * 24 * 365);
    for st in [&dead, &alive, &other_boot, &reused] {
        s.store().record_start(st).await.unwrap();
    }

    s.monitor.replay_spool();
    s.flush().await;

    let store = &**s.store();
    let e = one_run(store, dead.id).await;
    assert_eq!(
        (e.status, e.reason),
        (Status::Failed, Some(Reason::Crashed))
    );
    assert!(e.error_message.unwrap().contains("ended without reporting"));
    assert!(e.duration_ms.unwrap() >= 29_000);
    assert_eq!(
        one_run(store, reused.id).await.reason,
        Some(Reason::Crashed)
    );
    assert_eq!(one_run(store, alive.id).await.status, Status::Running);
    assert_eq!(one_run(store, other_boot.id).await.status, Status::Running);
}

/// Runs a job while the destination is down: the job is unaffected, its events go to the
/// spool; once the destination is back, a replay stores them exactly once and empties it.
async fn down_destination_spools_then_replays(kind: Kind) {
    let spool = common::spool_dir();
    let mut down = common::DownDest::new(kind).await;
    let monitor = Monitor::builder(&down.url)
        .secret(SECRET)
        .spool_dir(&spool)
        .own_recorder()
        .build()
        .unwrap();

    let run = CronRun::start(&monitor, "down");
    let id = run.id();
    run.complete();
    assert!(monitor.flush(FLUSH).await);
    let files = common::spool_files(&spool);
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(monitor.stats().spooled >= 2);

    let store = down.bring_up().await;
    monitor.replay_spool();
    monitor.replay_spool(); // a second replay finds nothing: nothing doubles
    assert!(monitor.flush(FLUSH).await);

    let runs = runs_of(&*store, "down").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, id);
    assert_eq!(runs[0].status, Status::Completed);
    assert!(common::spool_files(&spool).is_empty());

    let _ = std::fs::remove_dir_all(&spool);
    down.finish().await;
}

on_all_destinations!(
    guard_records_every_ending,
    track_records_the_future_result,
    many_runs_are_each_stored_once,
    a_backlog_is_delivered_whole_and_once,
    runs_of_dead_processes_are_closed_as_crashed,
);

on_each_kind!(down_destination_spools_then_replays);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_spools_until_the_right_one_comes() {
    let db = TestDb::sqlite().await;
    let server = TestServer::start(db.store.clone(), SECRET, None).await;
    let spool = common::spool_dir();
    let wrong = Monitor::builder(&server.url())
        .secret("wrong")
        .spool_dir(&spool)
        .own_recorder()
        .build()
        .unwrap();
    let run = CronRun::start(&wrong, "secretive");
    let id = run.id();
    run.complete();
    assert!(wrong.flush(FLUSH).await);
    assert!(db.store.execution(id).await.unwrap().is_none());
    let files = common::spool_files(&spool);
    assert_eq!(files.len(), 1);

    // The job with the wrong secret ends: its recorder closes the file, releasing its lock
    // (while it could still append, nobody else may take the file).
    drop(wrong);
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::File::open(&files[0]).unwrap().try_lock().is_err() {
        assert!(
            std::time::Instant::now() < give_up,
            "the spool file stays locked"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let right = Monitor::builder(&server.url())
        .secret(SECRET)
        .spool_dir(&spool)
        .build()
        .unwrap();
    assert!(right.flush(FLUSH).await);
    assert_eq!(
        db.store.execution(id).await.unwrap().unwrap().status,
        Status::Completed
    );
    assert!(common::spool_files(&spool).is_empty());
    drop(server);
    db.finish().await;
}

/// A monitor writing straight to SQLite refuses a schedule the HTTP API would refuse
/// (`61 * * * *`): the recorder warns and stores nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_monitor_stores_no_invalid_schedule() {
    let db = TestDb::sqlite().await;
    let spool = common::spool_dir();
    let monitor = Monitor::builder(&db.url)
        .spool_dir(&spool)
        .own_recorder()
        .build()
        .unwrap();
    let schedule = |expression: &str| ScheduleUpdate {
        cron_expression: Some(expression.into()),
        timeout_ms: Some(60_000),
        ..Default::default()
    };
    monitor.upsert_schedule("minute-61", schedule("61 * * * *"));
    // Declared after the refused one: once it is stored, the refused one was handled.
    monitor.upsert_schedule("every-5", schedule("*/5 * * * *"));
    assert!(monitor.flush(FLUSH).await);
    let schedules = db.store.schedules().await.unwrap();
    let names: Vec<_> = schedules.iter().map(|s| s.cron_name.as_str()).collect();
    assert_eq!(names, ["every-5"]);
    assert_eq!(schedules[0].cron_expression.as_deref(), Some("*/5 * * * *"));
    // Refused, not failed: nothing waits in the spool to be retried.
    assert!(common::spool_files(&spool).is_empty());
    let _ = std::fs::remove_dir_all(&spool);
    db.finish().await;
}

/// A server URL without the API's mount point answers 404 to everything: the runs are not
/// lost but wait in the spool (with a hint on stderr), and nothing is counted dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_url_path_spools_and_drops_nothing() {
    let db = TestDb::sqlite().await;
    let server = TestServer::start(db.store.clone(), SECRET, None).await;
    let spool = common::spool_dir();
    let monitor = Monitor::builder(&format!("http://{}", server.addr))
        .secret(SECRET)
        .spool_dir(&spool)
        .own_recorder()
        .build()
        .unwrap();
    CronRun::start(&monitor, "typo").complete();
    assert!(monitor.flush(FLUSH).await);
    let stats = monitor.stats();
    assert_eq!((stats.dropped, stats.dead_lettered), (0, 0), "{stats:?}");
    assert_eq!(stats.spooled, 2, "{stats:?}");
    let lines: usize = common::spool_files(&spool)
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap().lines().count())
        .sum();
    assert_eq!(lines, 2, "the start and the end wait in the spool");
    assert!(db.store.schedules().await.unwrap().is_empty());
    drop(server);
    let _ = std::fs::remove_dir_all(&spool);
    db.finish().await;
}

/// An event the server refuses for good as invalid (a start whose slot is in the year 10000)
/// is kept in the dead-letter file next to the spool, not lost; the run itself is still
/// stored from its completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_event_goes_to_the_dead_letter_file() {
    let db = TestDb::sqlite().await;
    let server = TestServer::start(db.store.clone(), SECRET, None).await;
    let spool = common::spool_dir();
    let monitor = Monitor::builder(&server.url())
        .secret(SECRET)
        .spool_dir(&spool)
        .own_recorder()
        .build()
        .unwrap();
    let far = chrono::DateTime::parse_from_rfc3339("10000-01-01T00:00:00Z")
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::DateTime::<chrono::Utc>::MAX_UTC);
    let run = CronRun::builder(&monitor, "far-slot")
        .scheduled_for(far)
        .start();
    let id = run.id();
    run.complete();
    assert!(monitor.flush(FLUSH).await);
    let stats = monitor.stats();
    assert_eq!((stats.dead_lettered, stats.dropped), (1, 0), "{stats:?}");
    let dead: Vec<_> = common::spool_files(&spool)
        .into_iter()
        .filter(|f| {
            f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("dead-letter-"))
        })
        .collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let text = std::fs::read_to_string(&dead[0]).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains(&id.to_string()) && text.contains("422"),
        "{text}"
    );
    let e = db
        .store
        .execution(id)
        .await
        .unwrap()
        .expect("stored from its completion");
    assert_eq!(e.status, Status::Completed);
    drop(server);
    let _ = std::fs::remove_dir_all(&spool);
    db.finish().await;
}

#[test]
fn disabled_monitor_records_nothing_and_never_fails() {
    let m = Monitor::disabled();
    let run = CronRun::start(&m, "anything");
    assert!(run.id().is_nil());
    run.progress(1, 2);
    run.complete();
    assert!(m.flush_blocking(Duration::from_millis(10)));
    assert!(Monitor::new("mysql://x/y").is_err());
}

#[test]
fn invalid_names_record_nothing() {
    let m = Monitor::builder("sqlite://unused.db")
        .spool_dir(common::spool_dir())
        .build()
        .unwrap();
    let run = CronRun::start(&m, "bad\nname");
    assert!(run.id().is_nil());
    run.complete();
}

/// A destination that accepts connections and never answers holds the recorder up: the queue
/// fills, and further events go straight to the spool from the job's thread, which never
/// waits. After a flush, every event is in the spool, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_never_blocks_the_job() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let spool = common::spool_dir();
    let monitor = Monitor::builder(&format!("http://{addr}/api/admin"))
        .spool_dir(&spool)
        .own_recorder()
        .build()
        .unwrap();
    let before = monitor.stats();

    let n = cronmon::QUEUE_CAPACITY + 2_000;
    let began = std::time::Instant::now();
    for _ in 0..n {
        CronRun::start(&monitor, "burst").complete();
    }
    let elapsed = began.elapsed();
    let stats = monitor.stats();
    assert!(
        stats.overflowed > before.overflowed,
        "{stats:?} (took {elapsed:?})"
    );

    // The destination never answers: the worker gives up on it after its request timeout,
    // then spools everything; on a loaded machine that takes longer than other flushes.
    assert!(monitor.flush(FLUSH * 3).await);
    let lines: usize = common::spool_files(&spool)
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap().lines().count())
        .sum();
    assert_eq!(lines, 2 * n, "every start and end is in the spool");
    assert_eq!(monitor.stats().dropped, before.dropped);
    hold.abort();
    let _ = std::fs::remove_dir_all(&spool);
}

/// The run starts inside a runtime that is gone before it ends (as with `#[tokio::main]`
/// above the attribute), and ends in plain sync code: still recorded, from the recorder's own
/// runtime.
#[test]
fn records_after_the_callers_runtime_is_gone() {
    let setup = tokio::runtime::Runtime::new().unwrap();
    let db = setup.block_on(TestDb::sqlite());
    let monitor = Monitor::builder(&db.url)
        .spool_dir(common::spool_dir())
        .build()
        .unwrap();
    let run = {
        let job_rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        job_rt.block_on(async {
            tokio::task::yield_now().await;
            CronRun::start(&monitor, "outlives")
        })
    }; // the job's runtime is dropped here
    let id = run.id();
    run.complete();
    assert!(monitor.flush_blocking(FLUSH));
    let e = setup.block_on(db.store.execution(id)).unwrap().unwrap();
    assert_eq!(e.status, Status::Completed);
    setup.block_on(db.finish());
}

/// `flush().await` on a runtime built without a time driver (or on another executor) works:
/// it uses no tokio timer.
#[test]
fn async_flush_needs_no_tokio_timer() {
    let dir = common::spool_dir();
    let monitor = Monitor::builder(&format!("sqlite://{}/db.sqlite", dir.display()))
        .spool_dir(&dir)
        .build()
        .unwrap();
    let bare = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    bare.block_on(async {
        CronRun::start(&monitor, "no-timer").complete();
        assert!(monitor.flush(FLUSH).await);
    });
    assert_eq!(
        common::spool_files(&dir)
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "jsonl"))
            .count(),
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
