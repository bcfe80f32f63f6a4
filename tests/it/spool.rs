//! The spool and its replay, with real recorders, real files and locks, a real server behind
//! a real (slow) TCP proxy, and real processes holding locks: files are claimed by their
//! `flock`, not by pid; damaged lines are kept; a folder others may write to is refused; a
//! replay over a slow link delivers everything once and never holds up the job's own runs.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cronmon::store::Store;
use cronmon::{
    CronName, CronRun, Event, ExecutionFilter, Finish, Monitor, PageRequest, Start, Status,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common;
use crate::common::server::TestServer;
use crate::common::{Kind, LiveDest, SECRET, TestDb};

const FLUSH: Duration = Duration::from_secs(15);

/// The key naming a destination's spool files: FNV-1a of its URL, computed here by hand so
/// the test pins the on-disk names too.
fn key_of(url: &str) -> u64 {
    url.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A pid no process has now.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Writes a spool file as a process `pid` of an earlier run would have left it for `url`.
fn plant(dir: &Path, url: &str, pid: u32, text: &str) -> PathBuf {
    let path = dir.join(format!(
        "{:016x}-{pid}-{}.jsonl",
        key_of(url),
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

fn spool_line(event: Event) -> String {
    format!("{}\n", serde_json::json!({ "event": event }))
}

fn start(cron: &str) -> Start {
    Start::now(CronName::new(cron).unwrap())
}

fn finish(id: uuid::Uuid) -> Finish {
    let mut f = Finish::now(id, Status::Completed);
    f.duration_ms = Some(5);
    f
}

fn named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    common::spool_files(dir)
        .into_iter()
        .filter(|f| {
            f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect()
}

/// Spool files left, dead-letter files apart.
fn spool_left(dir: &Path) -> Vec<PathBuf> {
    common::spool_files(dir)
        .into_iter()
        .filter(|f| {
            !f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("dead-letter-"))
        })
        .collect()
}

/// Every run stored for `cron`, by id.
async fn ids_of(store: &dyn Store, cron: &str) -> (u64, Vec<uuid::Uuid>) {
    let filter = ExecutionFilter {
        cron_name: Some(cron.into()),
        ..Default::default()
    };
    let limit = PageRequest::MAX_LIMIT;
    let mut ids = Vec::new();
    let mut total = 0;
    for page in 1.. {
        let got = store
            .list_executions(&filter, PageRequest::new(page, limit).unwrap())
            .await
            .unwrap();
        total = got.total;
        let n = got.items.len();
        ids.extend(got.items.into_iter().map(|e| e.id));
        if n < limit as usize {
            break;
        }
    }
    (total as u64, ids)
}

/// A TCP proxy on loopback that holds every chunk a client sends for `delay` before passing
/// it on (so each request takes at least that long), and keeps a copy of what was sent.
struct SlowProxy {
    addr: std::net::SocketAddr,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SlowProxy {
    async fn start(upstream: std::net::SocketAddr, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let log = sent.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client_rx, mut client_tx) = client.into_split();
                    let (mut server_rx, mut server_tx) = server.into_split();
                    let back = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
                    });
                    let mut seen = Vec::new();
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_rx.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        tokio::time::sleep(delay).await;
                        seen.extend_from_slice(&buf[..n]);
                        if server_tx.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    log.lock().unwrap().push(seen);
                    let _ = server_tx.shutdown().await;
                    let _ = back.await;
                });
            }
        });
        Self { addr, sent, task }
    }

    /// How many times each of `ids` went through the proxy, on connections closed so far.
    fn times_sent(&self, ids: &[uuid::Uuid]) -> HashMap<uuid::Uuid, usize> {
        let sent = self.sent.lock().unwrap();
        let text: Vec<String> = sent
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        ids.iter()
            .map(|id| {
                let needle = id.to_string();
                (*id, text.iter().map(|t| t.matches(&needle).count()).sum())
            })
            .collect()
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// 600 starts left in the spool by an earlier process, replayed through a link that takes
/// 100 ms a request, while the job records runs of its own: the job's runs are stored as soon
/// as its flush returns, all 600 are stored in the end, each sent once, and the spool folder
/// is empty afterwards.
async fn slow_link_replays_every_run_once_after_the_jobs_own(db: TestDb) {
    let server = TestServer::start(db.store.clone(), SECRET, None).await;
    let proxy = SlowProxy::start(server.addr, Duration::from_millis(100)).await;
    let url = format!("http://{}/api/admin", proxy.addr);
    let spool = common::spool_dir();

    let old: Vec<Start> = (0..600).map(|_| start("slow-old")).collect();
    let old_ids: Vec<_> = old.iter().map(|s| s.id).collect();
    let text: String = old
        .into_iter()
        .map(|s| spool_line(Event::Start(s)))
        .collect();
    plant(&spool, &url, dead_pid(), &text);

    let monitor = Monitor::builder(&url)
        .secret(SECRET)
        .spool_dir(&spool)
        .own_recorder()
        .build()
        .unwrap();
    let own: Vec<_> = (0..5)
        .map(|_| {
            let run = CronRun::start(&monitor, "slow-own");
            let id = run.id();
            run.complete();
            id
        })
        .collect();
    assert!(monitor.flush(FLUSH).await, "flush timed out");
    for id in &own {
        let e = db.store.execution(*id).await.unwrap();
        assert_eq!(
            e.map(|e| e.status),
            Some(Status::Completed),
            "the job's own run {id} waited behind the old spool"
        );
    }

    // The replay goes on in the background: wait for it (a bound, not a speed assertion).
    let give_up = Instant::now() + Duration::from_secs(600);
    loop {
        let (total, _) = ids_of(&*db.store, "slow-old").await;
        if (total == 600 && spool_left(&spool).is_empty()) || Instant::now() > give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (total, ids) = ids_of(&*db.store, "slow-old").await;
    assert_eq!(total, 600);
    let stored: HashSet<_> = ids.iter().copied().collect();
    assert_eq!(stored.len(), 600);
    assert_eq!(stored, old_ids.iter().copied().collect::<HashSet<_>>());
    let (own_total, own_ids) = ids_of(&*db.store, "slow-own").await;
    assert_eq!(own_total, 5);
    assert_eq!(
        own_ids.into_iter().collect::<HashSet<_>>(),
        own.iter().copied().collect::<HashSet<_>>()
    );
    assert!(spool_left(&spool).is_empty(), "{:?}", spool_left(&spool));
    let stats = monitor.stats();
    assert_eq!(stats.replayed, 600, "{stats:?}");
    assert_eq!((stats.dropped, stats.dead_lettered), (0, 0), "{stats:?}");

    // Nothing delivered was sent again: each old start crossed the link once.
    drop(monitor);
    drop(server);
    let give_up = Instant::now() + Duration::from_secs(30);
    let resent = loop {
        let times = proxy.times_sent(&old_ids);
        let unseen = times.values().filter(|n| **n == 0).count();
        // Connections are logged as they close (the recorder's pool closes with it).
        if unseen == 0 || Instant::now() > give_up {
            break times;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let twice: Vec<_> = resent.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "{} old runs sent other than once: {:?}",
        twice.len(),
        twice.iter().take(5).collect::<Vec<_>>()
    );
    let _ = std::fs::remove_dir_all(&spool);
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_link_replays_every_run_once_after_the_jobs_own_sqlite() {
    slow_link_replays_every_run_once_after_the_jobs_own(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_link_replays_every_run_once_after_the_jobs_own_postgres() {
    slow_link_replays_every_run_once_after_the_jobs_own(TestDb::postgres().await).await;
}

/// Another process holds the lock of a spool file (as a live writer does, even one whose pid
/// looks dead from here, say in another pid namespace): it is not claimed. Once that process
/// is gone, the next replay takes it.
async fn a_locked_file_waits_for_its_writer(kind: Kind) {
    let dest = LiveDest::new(kind).await;
    let spool = common::spool_dir();
    let run = start("locked");
    let id = run.id;
    let path = plant(
        &spool,
        &dest.url,
        dead_pid(),
        &format!(
            "{}{}",
            spool_line(Event::Start(run)),
            spool_line(Event::Finish(finish(id)))
        ),
    );
    // flock(1) holds the lock itself (`--close`: its child `cat` does not inherit it) until
    // `cat` ends, which is when its stdin closes.
    let mut holder = std::process::Command::new("flock")
        .args(["--close", "--exclusive"])
        .arg(&path)
        .arg("cat")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run flock(1)");
    // Wait until the other process holds the lock.
    loop {
        let probe = std::fs::File::open(&path).unwrap();
        match probe.try_lock() {
            Ok(()) => drop(probe),
            Err(std::fs::TryLockError::WouldBlock) => break,
            Err(std::fs::TryLockError::Error(e)) => panic!("{e}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    let monitor = Monitor::builder(&dest.url)
        .secret(SECRET)
        .spool_dir(&spool)
        .own_recorder()
        .build()
        .unwrap();
    monitor.replay_spool();
    assert!(monitor.flush(FLUSH).await);
    assert!(dest.db.store.execution(id).await.unwrap().is_none());
    assert_eq!(
        common::spool_files(&spool),
        vec![path.clone()],
        "left alone"
    );

    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    monitor.replay_spool();
    assert!(monitor.flush(FLUSH).await);
    let e = dest
        .db
        .store
        .execution(id)
        .await
        .unwrap()
        .expect("replayed");
    assert_eq!(e.status, Status::Completed);
    assert!(common::spool_files(&spool).is_empty());
    assert_eq!(monitor.stats().replayed, 2);
    let _ = std::fs::remove_dir_all(&spool);
    dest.finish().await;
}

/// A spool file with lines that do not parse (garbage, and a last line cut by a crash): the
/// other events are delivered, the damaged lines are kept as they were in the dead-letter
/// file, counted, and the spool file is gone.
async fn damaged_lines_go_to_the_dead_letter_file(kind: Kind) {
    let dest = LiveDest::new(kind).await;
    let spool = common::spool_dir();
    let before = start("damaged");
    let after = start("damaged");
    let text = format!(
        "{}not json at all\n{}{}{}{{\"event\":{{\"kind\":\"fin",
        spool_line(Event::Start(before.clone())),
        spool_line(Event::Finish(finish(before.id))),
        spool_line(Event::Start(after.clone())),
        spool_line(Event::Finish(finish(after.id))),
    );
    plant(&spool, &dest.url, dead_pid(), &text);
    let monitor = Monitor::builder(&dest.url)
        .secret(SECRET)
        .spool_dir(&spool)
        .own_recorder()
        .build()
        .unwrap();
    assert!(monitor.flush(FLUSH).await);

    for id in [before.id, after.id] {
        let e = dest.db.store.execution(id).await.unwrap().expect("stored");
        assert_eq!(e.status, Status::Completed);
    }
    let stats = monitor.stats();
    assert_eq!((stats.replayed, stats.dead_lettered), (4, 2), "{stats:?}");
    assert!(spool_left(&spool).is_empty(), "{:?}", spool_left(&spool));
    let dead = named(&spool, "dead-letter-");
    assert_eq!(dead.len(), 1, "{dead:?}");
    let kept: Vec<serde_json::Value> = std::fs::read_to_string(&dead[0])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let lines: Vec<_> = kept.iter().map(|k| k["line"].as_str().unwrap()).collect();
    assert_eq!(lines, ["not json at all", "{\"event\":{\"kind\":\"fin"]);
    assert!(kept.iter().all(|k| k["reason"] == "damaged spool line"));
    let _ = std::fs::remove_dir_all(&spool);
    dest.finish().await;
}

on_each_kind!(
    a_locked_file_waits_for_its_writer,
    damaged_lines_go_to_the_dead_letter_file
);

fn make_world_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// A spool folder anyone may write to is not used: spool files planted there are not
/// replayed, and runs that cannot be delivered are not written there (counted dropped, the
/// last resort).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_writable_spool_folder_is_refused() {
    let db = TestDb::sqlite().await;
    let spool = common::spool_dir();
    make_world_writable(&spool);
    let planted = start("planted");
    let planted_file = plant(
        &spool,
        &db.url,
        dead_pid(),
        &spool_line(Event::Start(planted.clone())),
    );
    let monitor = Monitor::builder(&db.url)
        .spool_dir(&spool)
        .own_recorder()
        .build()
        .unwrap();
    monitor.replay_spool();
    assert!(monitor.flush(FLUSH).await);
    assert!(db.store.execution(planted.id).await.unwrap().is_none());
    assert_eq!(common::spool_files(&spool), [planted_file]);

    let down = common::DownDest::new(Kind::Http).await;
    let monitor = Monitor::builder(&down.url)
        .spool_dir(&spool)
        .own_recorder()
        .build()
        .unwrap();
    CronRun::start(&monitor, "nowhere").complete();
    assert!(monitor.flush(FLUSH).await);
    let stats = monitor.stats();
    assert_eq!((stats.spooled, stats.dropped), (0, 2), "{stats:?}");
    assert_eq!(
        common::spool_files(&spool).len(),
        1,
        "nothing written there"
    );
    let _ = std::fs::remove_dir_all(&spool);
    down.finish().await;
    db.finish().await;
}

/// A job process whose spool folder anyone may write to says so on stderr, once, naming the
/// folder and the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_writable_spool_folder_is_named_with_the_fix() {
    let spool = common::spool_dir();
    make_world_writable(&spool);
    let down = common::DownDest::new(Kind::Http).await;
    let out = tokio::task::spawn_blocking({
        let (url, spool) = (down.url.clone(), spool.clone());
        move || {
            std::process::Command::new(common::job_program("cronmon-test-job"))
                .arg("ok")
                .env("CRONMON_URL", url)
                .env("CRONMON_SPOOL_DIR", spool)
                .env("CRON_SECRET", SECRET)
                .env_remove("DATABASE_URL")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let fix = format!("chmod 700 {}", spool.display());
    assert_eq!(stderr.matches(&fix).count(), 1, "{stderr}");
    assert!(
        stderr.contains("writable by its group or others"),
        "{stderr}"
    );
    assert!(common::spool_files(&spool).is_empty());
    let _ = std::fs::remove_dir_all(&spool);
    down.finish().await;
}
