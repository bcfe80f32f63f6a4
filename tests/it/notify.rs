//! Notification delivery on real SQLite and PostgreSQL, to real receivers on loopback: the
//! outbox written with what it is about, filters, signatures, retries with one idempotency
//! key, timeouts, giving up, mutes, reminders, crashed claims, several notifiers at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use cronmon::health::{SweepConfig, Sweeper};
use cronmon::notify::{
    Channel, ChannelSettings, NotificationFilter, NotificationKind, NotificationStatus, Notifier,
    NotifierConfig, NotifyOn,
};
use cronmon::store::Store;
use cronmon::{CronName, Finish, PageRequest, Reason, ScheduleUpdate, Start, Status};
use hmac::{KeyInit, Mac};
use uuid::Uuid;

use crate::common::TestDb;
use crate::common::receiver::{Answer, Receiver};

const SECRET: &str = "a-webhook-secret-of-some-length";

crate::on_both_test_dbs!(
    an_incident_reaches_a_signed_webhook_once,
    filters_choose_the_channels,
    a_receiver_failing_twice_gets_the_same_key_three_times,
    a_hanging_receiver_delays_nobody_else,
    a_receiver_that_never_accepts_is_given_up,
    retry_after_is_honoured,
    a_muted_channel_is_not_sent,
    reminders_repeat_while_the_incident_is_open,
    a_dead_notifiers_claim_is_sent_again_with_its_key,
    two_notifiers_deliver_each_notification_once,
    stuck_and_missed_runs_are_notified_once,
    config_channels_replace_each_other,
    each_kind_of_receiver_gets_its_shape,
    a_flagged_duration_is_notified_once,
);

fn name(s: &str) -> CronName {
    CronName::new(s).expect("valid name")
}

/// Stores `channel`, as the API would.
async fn add(store: &dyn Store, channel: &Channel) {
    store
        .put_channel(channel, Utc::now())
        .await
        .expect("channel");
}

fn webhook(name: &str, receiver: &Receiver) -> Channel {
    Channel::new(
        name,
        ChannelSettings::Webhook {
            url: receiver.url(&format!("/hook/{name}")),
            secret: Some(SECRET.into()),
        },
    )
}

/// Fast retries and a short timeout, so no test waits long.
fn fast() -> NotifierConfig {
    NotifierConfig {
        poll: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
        lease: Duration::from_secs(2),
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        max_attempts: 5,
        ..NotifierConfig::default()
    }
}

fn notifier(store: &Arc<dyn Store>, config: NotifierConfig) -> Notifier {
    Notifier::new(store.clone(), config).expect("notifier")
}

/// Rounds until nothing is pending or sending (or 10 s passed).
async fn drain(n: &Notifier, store: &dyn Store) {
    drain_from(n, store, TimeDelta::zero()).await
}

/// Rounds with a clock `ahead` of the real one.
async fn drain_from(n: &Notifier, store: &dyn Store, ahead: TimeDelta) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        n.round(Utc::now() + ahead).await.expect("round");
        if open_count(store).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("notifications still pending after 10 s");
}

async fn open_count(store: &dyn Store) -> i64 {
    let mut open = 0;
    for status in [NotificationStatus::Pending, NotificationStatus::Sending] {
        open += store
            .notifications(
                &NotificationFilter {
                    status: Some(status),
                    ..NotificationFilter::default()
                },
                PageRequest { page: 1, limit: 1 },
            )
            .await
            .expect("notifications")
            .total;
    }
    open
}

async fn all_notifications(store: &dyn Store) -> Vec<cronmon::notify::Notification> {
    store
        .notifications(
            &NotificationFilter::default(),
            PageRequest {
                page: 1,
                limit: 200,
            },
        )
        .await
        .expect("notifications")
        .items
}

fn sweeper(store: &Arc<dyn Store>) -> Sweeper {
    Sweeper::new(
        store.clone(),
        SweepConfig {
            every: Duration::from_secs(86_400 * 30),
            ..SweepConfig::default()
        },
    )
}

async fn fragile(store: &dyn Store, cron: &str) {
    store
        .upsert_schedule(
            &name(cron),
            &ScheduleUpdate {
                failure_threshold: Some(1),
                ..ScheduleUpdate::default()
            },
        )
        .await
        .expect("schedule");
}

async fn run(store: &dyn Store, cron: &str, status: Status, error: &str) -> Uuid {
    let start = Start::now(name(cron));
    store.record_start(&start).await.expect("start");
    let mut finish = Finish::now(start.id, status);
    finish.duration_ms = Some(5);
    if status == Status::Failed {
        finish.reason = Some(Reason::Error);
        finish.error_message = Some(error.into());
    }
    store.record_finish(&finish).await.expect("finish");
    start.id
}

fn verify(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

async fn an_incident_reaches_a_signed_webhook_once(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::start().await;
    add(store.as_ref(), &webhook("ops", &receiver)).await;
    fragile(store.as_ref(), "backup").await;
    let failed = run(
        store.as_ref(),
        "backup",
        Status::Failed,
        "disk <full> @everyone",
    )
    .await;
    assert_eq!(
        sweeper(store)
            .sweep(Utc::now())
            .await
            .expect("sweep")
            .opened,
        1
    );

    let n = notifier(store, fast());
    drain(&n, store.as_ref()).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one POST: {got:?}");
    let hit = &got[0];
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.path, "/hook/ops");
    let timestamp = hit.header("x-cronmon-timestamp").expect("timestamp header");
    let age = Utc::now().timestamp() - timestamp.parse::<i64>().expect("unix seconds");
    assert!((0..60).contains(&age), "timestamp {timestamp}");
    assert_eq!(
        hit.header("x-cronmon-signature").as_deref(),
        Some(verify(SECRET, &timestamp, &hit.body).as_str()),
        "signature of timestamp.body"
    );
    let body = hit.json();
    assert_eq!(body["schema"], "cronmon.notification.v1");
    assert_eq!(body["kind"], "incident_opened");
    assert_eq!(body["cron"], "backup");
    assert_eq!(body["state"], "failing");
    assert_eq!(body["run"]["id"], failed.to_string());
    assert_eq!(body["run"]["errorMessage"], "disk <full> @everyone");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(hit.header("idempotency-key").as_deref(), Some(id.as_str()));
    readme_verifies(
        &timestamp,
        &hit.header("x-cronmon-signature").unwrap_or_default(),
        &hit.body,
    );

    // Recovery: the resolution goes out, once; nothing is sent twice.
    run(store.as_ref(), "backup", Status::Completed, "").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");
    drain(&n, store.as_ref()).await;
    n.round(Utc::now()).await.expect("round");
    let got = receiver.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].json()["kind"], "incident_resolved");
    assert_eq!(got[1].json()["state"], "up");
    assert_ne!(got[1].json()["id"], id.as_str());

    let rows = all_notifications(store.as_ref()).await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.id.get_version_num(), 4, "a random UUID: {}", row.id);
        assert_eq!(row.id.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(row.status, NotificationStatus::Delivered, "{row:?}");
        assert_eq!(row.attempts, 1);
        assert_eq!(row.last_status, Some(200));
        assert!(row.delivered_at.is_some());
    }
    let ch = store.channel("ops").await.expect("read").expect("channel");
    assert_eq!(ch.health.consecutive_failures, 0);
    assert!(ch.health.last_delivered_at.is_some());
}

/// Runs the README's shell that verifies a delivery (real bash, real openssl) on what the
/// receiver got: it must print `valid`, and must not for a changed body.
fn readme_verifies(timestamp: &str, signature: &str, body: &[u8]) {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let after = readme
        .split_once("<!-- verify-signature")
        .expect("the README's verification block")
        .1;
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a sh block")
        .0;
    let dir = std::env::temp_dir().join(format!("cronmon-verify-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("dir");
    let run = |body: &[u8]| {
        std::fs::write(dir.join("body.json"), body).expect("body");
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(block)
            .current_dir(&dir)
            .env("TIMESTAMP", timestamp)
            .env("SIGNATURE", signature)
            .env("CRONMON_WEBHOOK_SECRET", SECRET)
            .output()
            .expect("bash");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(
        run(body),
        "valid",
        "the README's check accepts a real delivery"
    );
    let mut tampered = body.to_vec();
    tampered.push(b' ');
    assert_eq!(run(&tampered), "", "and refuses a changed body");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn filters_choose_the_channels(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::start().await;
    let billing = webhook("billing", &receiver).crons(&["billing-*"]);
    let runs = webhook("runs", &receiver).on(&[NotifyOn::FailedRun]);
    let quiet = webhook("quiet", &receiver).on(&[NotifyOn::Resolved]);
    for c in [&billing, &runs, &quiet] {
        add(store.as_ref(), c).await;
    }
    fragile(store.as_ref(), "billing-invoices").await;
    fragile(store.as_ref(), "backup").await;
    run(store.as_ref(), "billing-invoices", Status::Failed, "boom").await;
    run(store.as_ref(), "backup", Status::Failed, "boom").await;
    // A success notifies nobody.
    run(store.as_ref(), "other", Status::Completed, "").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");

    let mut seen: Vec<(String, String, String)> = all_notifications(store.as_ref())
        .await
        .into_iter()
        .map(|n| {
            (
                n.channel,
                n.kind.to_string(),
                n.cron_name.unwrap_or_default(),
            )
        })
        .collect();
    seen.sort();
    let want = |c: &str, k: &str, n: &str| (c.to_owned(), k.to_owned(), n.to_owned());
    assert_eq!(
        seen,
        vec![
            want("billing", "incident_opened", "billing-invoices"),
            want("runs", "failed_run", "backup"),
            want("runs", "failed_run", "billing-invoices"),
        ]
    );
    drain(&notifier(store, fast()), store.as_ref()).await;
    assert_eq!(receiver.received().len(), 3);
}

async fn a_receiver_failing_twice_gets_the_same_key_three_times(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::scripted(
        &[Answer::Status(500), Answer::Status(503)],
        Answer::Status(200),
    )
    .await;
    add(store.as_ref(), &webhook("flaky", &receiver)).await;
    fragile(store.as_ref(), "backup").await;
    run(store.as_ref(), "backup", Status::Failed, "boom").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");
    drain(&notifier(store, fast()), store.as_ref()).await;

    let got = receiver.received();
    assert_eq!(got.len(), 3, "{got:?}");
    let keys: Vec<_> = got.iter().map(|r| r.header("idempotency-key")).collect();
    assert!(keys[0].is_some());
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "one key across retries: {keys:?}"
    );
    let row = &all_notifications(store.as_ref()).await[0];
    assert_eq!(row.status, NotificationStatus::Delivered);
    assert_eq!(row.attempts, 3);
    assert_eq!(row.id.to_string(), keys[0].clone().unwrap_or_default());
    let ch = store
        .channel("flaky")
        .await
        .expect("read")
        .expect("channel");
    assert_eq!(
        ch.health.consecutive_failures, 0,
        "a delivery clears the failures"
    );
}

async fn a_hanging_receiver_delays_nobody_else(db: &TestDb) {
    let store = &db.store;
    let hanging = Receiver::scripted(&[], Answer::Hang).await;
    let fine = Receiver::start().await;
    add(store.as_ref(), &webhook("hanging", &hanging)).await;
    add(store.as_ref(), &webhook("fine", &fine)).await;
    // And one whose host refuses connections.
    let closed = format!("http://127.0.0.1:{}/hook", crate::common::free_port());
    add(
        store.as_ref(),
        &Channel::new(
            "unreachable",
            ChannelSettings::Webhook {
                url: closed,
                secret: Some(SECRET.into()),
            },
        ),
    )
    .await;
    fragile(store.as_ref(), "backup").await;
    run(store.as_ref(), "backup", Status::Failed, "boom").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");

    let n = notifier(store, fast());
    let started = std::time::Instant::now();
    let report = n.round(Utc::now()).await.expect("round");
    let took = started.elapsed();
    assert_eq!(report.claimed, 3);
    assert_eq!(report.delivered, 1);
    assert_eq!(report.retrying, 2);
    // Bounded by the 500 ms timeout, not by the receiver.
    assert!(took < Duration::from_secs(5), "round took {took:?}");
    assert_eq!(fine.received().len(), 1);
    let rows = all_notifications(store.as_ref()).await;
    let stuck = rows.iter().find(|r| r.channel == "hanging").expect("row");
    assert_eq!(stuck.status, NotificationStatus::Pending);
    let refused = rows
        .iter()
        .find(|r| r.channel == "unreachable")
        .expect("row");
    assert_eq!(refused.status, NotificationStatus::Pending);
    assert!(refused.last_error.is_some(), "{refused:?}");
    assert_eq!(refused.last_status, None, "nobody answered");
    let error = stuck.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("timed out") || error.contains("no answer within"),
        "{error}"
    );
}

async fn a_receiver_that_never_accepts_is_given_up(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::scripted(&[], Answer::Status(500)).await;
    add(store.as_ref(), &webhook("down", &receiver)).await;
    fragile(store.as_ref(), "backup").await;
    run(store.as_ref(), "backup", Status::Failed, "boom").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");
    let n = notifier(
        store,
        NotifierConfig {
            max_attempts: 3,
            ..fast()
        },
    );
    drain(&n, store.as_ref()).await;
    assert_eq!(receiver.received().len(), 3);
    let row = &all_notifications(store.as_ref()).await[0];
    assert_eq!(row.status, NotificationStatus::GivenUp);
    assert_eq!(row.attempts, 3);
    assert_eq!(row.last_status, Some(500));
    assert!(
        row.last_error.as_deref().unwrap_or("").contains("500"),
        "{row:?}"
    );
    let ch = store.channel("down").await.expect("read").expect("channel");
    assert_eq!(ch.health.consecutive_failures, 3);
    assert!(ch.health.is_failing());
    assert!(ch.health.failing_since.is_some());
}

async fn retry_after_is_honoured(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::scripted(&[Answer::RetryAfter(429, 7)], Answer::Status(200)).await;
    add(store.as_ref(), &webhook("busy", &receiver)).await;
    fragile(store.as_ref(), "backup").await;
    run(store.as_ref(), "backup", Status::Failed, "boom").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");
    let n = notifier(
        store,
        NotifierConfig {
            retry_max: Duration::from_secs(60),
            ..fast()
        },
    );
    let report = n.round(Utc::now()).await.expect("round");
    assert_eq!(report.retrying, 1);
    let row = &all_notifications(store.as_ref()).await[0];
    assert_eq!(row.last_status, Some(429));
    let wait = row.next_attempt_at.expect("due again") - Utc::now();
    assert!(
        (TimeDelta::seconds(5)..=TimeDelta::seconds(8)).contains(&wait),
        "the receiver asked for 7 s: {wait:?}"
    );
    // Not before.
    assert_eq!(n.round(Utc::now()).await.expect("round").claimed, 0);
    drain_from(&n, store.as_ref(), TimeDelta::seconds(8)).await;
    assert_eq!(receiver.received().len(), 2);
}

async fn a_muted_channel_is_not_sent(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::start().await;
    let mut muted = webhook("muted", &receiver);
    muted.muted_until = Some(Utc::now() + TimeDelta::hours(2));
    add(store.as_ref(), &muted).await;
    fragile(store.as_ref(), "backup").await;
    run(store.as_ref(), "backup", Status::Failed, "boom").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");
    drain(&notifier(store, fast()), store.as_ref()).await;
    assert!(receiver.received().is_empty());
    let row = &all_notifications(store.as_ref()).await[0];
    assert_eq!(row.status, NotificationStatus::Muted);

    // Retention takes the notifications that are done with, and leaves a pending one.
    run(store.as_ref(), "backup", Status::Completed, "").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut loud = webhook("loud", &receiver).on(&[NotifyOn::FailedRun]);
    loud.muted_until = None;
    add(store.as_ref(), &loud).await;
    run(store.as_ref(), "backup", Status::Failed, "boom").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store
        .cleanup(Duration::from_secs(1), 100)
        .await
        .expect("cleanup");
    let left = all_notifications(store.as_ref()).await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|n| n.status == NotificationStatus::Pending));
}

async fn reminders_repeat_while_the_incident_is_open(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::start().await;
    let mut ch = webhook("nag", &receiver);
    ch.repeat_every_ms = Some(5 * 60_000);
    add(store.as_ref(), &ch).await;
    fragile(store.as_ref(), "backup").await;
    run(store.as_ref(), "backup", Status::Failed, "boom").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");
    let opened = Utc::now();

    // Two notifiers at the same instants: each reminder is written once.
    let reminders = |at: DateTime<Utc>| {
        let store = store.clone();
        async move {
            let a = store.enqueue_due_notifications(at).await.expect("enqueue");
            let b = store.enqueue_due_notifications(at).await.expect("enqueue");
            a + b
        }
    };
    assert_eq!(reminders(opened + TimeDelta::minutes(2)).await, 0);
    assert_eq!(reminders(opened + TimeDelta::minutes(6)).await, 1);
    assert_eq!(reminders(opened + TimeDelta::minutes(7)).await, 0);
    assert_eq!(reminders(opened + TimeDelta::minutes(11)).await, 1);
    let kinds: Vec<NotificationKind> = all_notifications(store.as_ref())
        .await
        .iter()
        .map(|n| n.kind)
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == NotificationKind::IncidentReminder)
            .count(),
        2
    );
    assert!(
        all_notifications(store.as_ref())
            .await
            .iter()
            .all(|n| n.id.get_version_num() == 4),
        "reminders' ids are random UUIDs too"
    );
    drain_from(
        &notifier(store, fast()),
        store.as_ref(),
        TimeDelta::minutes(12),
    )
    .await;
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert!(got.iter().any(|r| {
        r.json()["kind"] == "incident_reminder"
            && r.json()["title"]
                .as_str()
                .unwrap_or("")
                .starts_with("Still")
    }));

    // Resolved: no more reminders.
    run(store.as_ref(), "backup", Status::Completed, "").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");
    assert_eq!(reminders(opened + TimeDelta::minutes(30)).await, 0);
}

async fn a_dead_notifiers_claim_is_sent_again_with_its_key(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::start().await;
    add(store.as_ref(), &webhook("ops", &receiver)).await;
    fragile(store.as_ref(), "backup").await;
    run(store.as_ref(), "backup", Status::Failed, "boom").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");

    // A notifier claims, then dies before it records anything.
    let lease = Duration::from_secs(2);
    let claimed = store
        .claim_notifications(Utc::now(), lease, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let n = notifier(store, fast());
    // Under the lease nobody else takes it.
    assert_eq!(n.round(Utc::now()).await.expect("round").claimed, 0);
    // Once it ends, it is sent, with the row's id as its key.
    let later = Utc::now() + TimeDelta::seconds(3);
    let report = n.round(later).await.expect("round");
    assert_eq!(report.delivered, 1, "{report:?}");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].header("idempotency-key"),
        Some(claimed[0].notification.id.to_string())
    );
    // The dead claim records nothing over the new outcome.
    let late = store
        .record_attempt(&claimed[0], &cronmon::notify::Attempt::Muted)
        .await
        .expect("record");
    assert!(!late);
    let row = &all_notifications(store.as_ref()).await[0];
    assert_eq!(row.status, NotificationStatus::Delivered);
    assert_eq!(row.attempts, 2);
}

async fn two_notifiers_deliver_each_notification_once(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::start().await;
    add(
        store.as_ref(),
        &webhook("ops", &receiver).on(&[NotifyOn::FailedRun]),
    )
    .await;
    for i in 0..40 {
        run(store.as_ref(), &format!("job-{i}"), Status::Failed, "boom").await;
    }
    // A second store on the same database, as a second server would have.
    let other = cronmon::store::connect(&db.url)
        .await
        .expect("second store");
    let small = NotifierConfig { batch: 4, ..fast() };
    let a = notifier(store, small.clone());
    let b = notifier(&other, small);
    let (sa, sb) = (store.clone(), other.clone());
    let ta = tokio::spawn(async move { drain(&a, sa.as_ref()).await });
    let tb = tokio::spawn(async move { drain(&b, sb.as_ref()).await });
    ta.await.expect("notifier a");
    tb.await.expect("notifier b");
    other.close().await;

    let got = receiver.received();
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for r in &got {
        *per_key
            .entry(r.header("idempotency-key").unwrap_or_default())
            .or_default() += 1;
    }
    assert_eq!(per_key.len(), 40, "every notification arrived");
    assert!(per_key.values().all(|n| *n == 1), "each once: {per_key:?}");
}

async fn stuck_and_missed_runs_are_notified_once(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::start().await;
    add(
        store.as_ref(),
        &webhook("ops", &receiver).on(&[NotifyOn::Stuck, NotifyOn::Missed]),
    )
    .await;
    // Running for two hours, past the default one-hour limit.
    let mut start = Start::now(name("hung"));
    start.started_at = Utc::now() - TimeDelta::hours(2);
    store.record_start(&start).await.expect("start");
    let first = store
        .enqueue_due_notifications(Utc::now())
        .await
        .expect("enqueue");
    let again = store
        .enqueue_due_notifications(Utc::now())
        .await
        .expect("enqueue");
    assert_eq!((first, again), (1, 0));

    // A missed slot, as the sweeper writes it.
    store
        .upsert_schedule(
            &name("hourly"),
            &ScheduleUpdate {
                cron_expression: Some("0 * * * *".into()),
                grace_ms: Some(60_000),
                ..ScheduleUpdate::default()
            },
        )
        .await
        .expect("schedule");
    crate::health::rewind(db, "hourly", Utc::now() - TimeDelta::minutes(150)).await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");

    let rows = all_notifications(store.as_ref()).await;
    let stuck: Vec<_> = rows
        .iter()
        .filter(|n| n.kind == NotificationKind::Stuck)
        .collect();
    let missed: Vec<_> = rows
        .iter()
        .filter(|n| n.kind == NotificationKind::Missed)
        .collect();
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].execution_id, Some(start.id));
    assert!(
        (2..=3).contains(&missed.len()),
        "one per missed slot: {missed:?}"
    );
    drain(&notifier(store, fast()), store.as_ref()).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1 + missed.len());
    assert!(
        got.iter()
            .any(|r| r.json()["kind"] == "stuck" && r.json()["state"] == "stuck")
    );
    assert!(
        got.iter()
            .any(|r| r.json()["kind"] == "missed" && r.json()["state"] == "late")
    );
}

async fn config_channels_replace_each_other(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::start().await;
    let now = Utc::now();
    store
        .put_channel(&webhook("api-made", &receiver), now)
        .await
        .expect("channel");
    store
        .replace_config_channels(
            &[
                webhook("from-file", &receiver),
                webhook("api-made", &receiver),
            ],
            now,
        )
        .await
        .expect("config");
    let names = |cs: Vec<Channel>| {
        cs.into_iter()
            .map(|c| (c.name, c.source.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.channels().await.expect("channels")),
        vec![
            ("api-made".to_owned(), "config".to_owned()),
            ("from-file".to_owned(), "config".to_owned())
        ]
    );
    store
        .replace_config_channels(&[webhook("from-file", &receiver)], now)
        .await
        .expect("config");
    assert_eq!(
        names(store.channels().await.expect("channels")),
        vec![("from-file".to_owned(), "config".to_owned())]
    );
    // An invalid one refuses the whole file and changes nothing.
    let bad = Channel::new(
        "no-secret",
        ChannelSettings::Webhook {
            url: receiver.url("/x"),
            secret: None,
        },
    );
    assert!(store.replace_config_channels(&[bad], now).await.is_err());
    assert_eq!(store.channels().await.expect("channels").len(), 1);
}

/// aiosmtpd, the real SMTP server `scripts/test.sh` installs, writing what it receives to a
/// maildir.
struct SmtpServer {
    child: tokio::process::Child,
    python: String,
    port: u16,
    maildir: std::path::PathBuf,
}

impl SmtpServer {
    async fn start() -> Self {
        let python = std::env::var("CRONMON_AIOSMTPD_PYTHON").unwrap_or_else(|_| {
            let cache = std::env::var("XDG_CACHE_HOME").unwrap_or_else(|_| {
                format!("{}/.cache", std::env::var("HOME").unwrap_or_default())
            });
            format!("{cache}/cronmon/aiosmtpd-1.4.6/bin/python")
        });
        let port = crate::common::free_port();
        let maildir = std::env::temp_dir().join(format!("cronmon-mail-{}", Uuid::now_v7()));
        let child = tokio::process::Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("aiosmtpd must be installed ({python}: {e}); scripts/test.sh installs it")
            });
        // Ready when it accepts connections.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "aiosmtpd did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        SmtpServer {
            child,
            python,
            port,
            maildir,
        }
    }

    /// Each mail received, decoded by Python's `email` package (headers decoded, each part's
    /// transfer encoding undone): what a mail client shows.
    fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        const DECODE: &str = r#"
import email, email.header, email.policy, sys
m = email.message_from_file(open(sys.argv[1]), policy=email.policy.default)
for k in ("Subject", "Message-ID", "From", "To"):
    print(f"{k}: {m[k]}")
for part in m.walk():
    if part.get_content_maintype() == "text":
        print(f"--- {part.get_content_type()}")
        print(part.get_content())
"#;
        entries
            .filter_map(|e| {
                let path = e.ok()?.path();
                let out = std::process::Command::new(&self.python)
                    .args(["-c", DECODE])
                    .arg(&path)
                    .output()
                    .ok()?;
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                Some(String::from_utf8_lossy(&out.stdout).into_owned())
            })
            .collect()
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_is_emailed_over_smtp() {
    let db = TestDb::sqlite().await;
    let store = &db.store;
    let smtp = SmtpServer::start().await;
    let mail = Channel::new(
        "mail",
        ChannelSettings::Email {
            host: "127.0.0.1".into(),
            port: Some(smtp.port),
            tls: cronmon::notify::SmtpTls::None,
            username: None,
            password: None,
            from: "cronmon <cronmon@example.com>".into(),
            to: vec!["ops@example.com".into(), "Boss <boss@example.com>".into()],
        },
    );
    add(store.as_ref(), &mail).await;
    fragile(store.as_ref(), "nightly-<report>").await;
    run(
        store.as_ref(),
        "nightly-<report>",
        Status::Failed,
        "<b>disk</b> full",
    )
    .await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");
    let n = notifier(
        store,
        NotifierConfig {
            timeout: Duration::from_secs(5),
            lease: Duration::from_secs(20),
            public_url: Some("https://cron.example.com/".parse().expect("url")),
            ..fast()
        },
    );
    drain(&n, store.as_ref()).await;

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "one email (both recipients in one message)");
    let m = &mails[0];
    let id = all_notifications(store.as_ref()).await[0].id;
    let subject = m
        .lines()
        .find(|l| l.starts_with("Subject:"))
        .expect("a subject");
    assert!(subject.contains("nightly-<report>"), "{subject}");
    assert!(subject.contains("failing"), "{subject}");
    assert!(subject.contains("since"), "{subject}");
    assert!(
        m.contains(&format!("<{id}@cronmon>")),
        "Message-ID from the notification id"
    );
    assert!(
        m.contains("--- text/plain") && m.contains("--- text/html"),
        "both parts: {m}"
    );
    assert!(
        m.contains("&lt;b&gt;disk&lt;/b&gt;"),
        "the HTML part escapes job text"
    );
    assert!(
        !m.contains("<b>disk</b> full</"),
        "no raw job HTML in the HTML part"
    );
    assert!(
        m.contains("https://cron.example.com/#run="),
        "a link to the run"
    );
    let row = &all_notifications(store.as_ref()).await[0];
    assert_eq!(row.status, NotificationStatus::Delivered);
    assert_eq!(row.last_status, Some(250));
    smtp.stop().await;
    db.finish().await;
}

async fn each_kind_of_receiver_gets_its_shape(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::start().await;
    let channels = [
        Channel::new(
            "slack",
            ChannelSettings::Slack {
                url: receiver.url("/slack/T0/B0/x"),
            },
        ),
        Channel::new(
            "discord",
            ChannelSettings::Discord {
                url: receiver.url("/discord/api/webhooks/1/x"),
            },
        ),
        Channel::new(
            "teams",
            ChannelSettings::Teams {
                url: receiver.url("/teams/workflows/x"),
            },
        ),
        Channel::new(
            "ntfy",
            ChannelSettings::Ntfy {
                url: receiver.url("/ntfy/cron-alerts"),
                token: Some("tk_secret".into()),
            },
        ),
    ];
    for c in &channels {
        add(store.as_ref(), c).await;
    }
    fragile(store.as_ref(), "backup").await;
    run(
        store.as_ref(),
        "backup",
        Status::Failed,
        "@everyone <b>disk</b> full",
    )
    .await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");
    drain(&notifier(store, fast()), store.as_ref()).await;

    let got = receiver.received();
    assert_eq!(got.len(), 4, "{got:?}");
    let at = |prefix: &str| {
        got.iter()
            .find(|r| r.path.starts_with(prefix))
            .unwrap_or_else(|| panic!("nothing at {prefix}: {got:?}"))
    };
    let slack = at("/slack/").json();
    assert!(
        slack["text"].as_str().unwrap_or("").contains("backup"),
        "{slack}"
    );
    assert!(
        slack["blocks"].as_array().is_some_and(|b| !b.is_empty()),
        "{slack}"
    );
    assert!(
        !slack.to_string().contains("<b>"),
        "Slack's <, > escaped: {slack}"
    );

    let discord = at("/discord/").json();
    let embed = &discord["embeds"][0];
    assert!(
        embed["title"].as_str().unwrap_or("").contains("backup"),
        "{discord}"
    );
    assert_eq!(
        discord["allowed_mentions"]["parse"],
        serde_json::json!([]),
        "no pings"
    );

    let teams = at("/teams/").json();
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert!(card["content"].to_string().contains("backup"));

    let ntfy = at("/ntfy");
    assert_eq!(
        ntfy.header("authorization").as_deref(),
        Some("Bearer tk_secret")
    );
    let body = ntfy.json();
    assert_eq!(body["topic"], "cron-alerts");
    assert_eq!(body["priority"], 4, "an opening is high priority");
    assert!(body["title"].as_str().unwrap_or("").contains("backup"));
}

/// The `server` example as a process on `port` with the config file `config` and `args`,
/// once `/health` answers.
async fn server_process(
    url: &str,
    port: u16,
    config: &std::path::Path,
    args: &[&str],
) -> tokio::process::Child {
    let child = tokio::process::Command::new(crate::common::server_binary())
        .env("CRONMON_URL", url)
        .env("CRONMON_BIND", format!("127.0.0.1:{port}"))
        .env("CRON_SECRET", crate::common::SECRET)
        .env("HOOK_SECRET", SECRET)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let up = crate::common::http::client()
            .get(format!("http://127.0.0.1:{port}/api/admin/health"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            return child;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never came up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A config file with one webhook channel to `receiver` for every failed run, its secret
/// from the environment.
fn config_file(receiver: &Receiver) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("cronmon-notify-{}.toml", Uuid::now_v7()));
    std::fs::write(
        &path,
        format!(
            "[[channel]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret = \"${{HOOK_SECRET}}\"\non = [\"failed_run\"]\n",
            receiver.url("/hook")
        ),
    )
    .expect("config file");
    path
}

/// Waits until the receiver has `n` requests answered `answer` (or `within` passed).
async fn answered(
    receiver: &Receiver,
    answer: Answer,
    n: usize,
    within: Duration,
) -> Vec<crate::common::receiver::Received> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got: Vec<_> = receiver
            .received()
            .into_iter()
            .filter(|r| r.answer == answer)
            .collect();
        if got.len() >= n || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn per_key(got: &[crate::common::receiver::Received]) -> HashMap<String, usize> {
    let mut keys = HashMap::new();
    for r in got {
        *keys
            .entry(r.header("idempotency-key").unwrap_or_default())
            .or_default() += 1;
    }
    keys
}

/// Two server processes on one PostgreSQL database, each with the same config file and its
/// notifier running: every notification arrives, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_deliver_each_notification_once() {
    let db = TestDb::postgres().await;
    let receiver = Receiver::start().await;
    let config = config_file(&receiver);
    let fast = ["--notify-poll", "20ms"];
    let (pa, pb) = (crate::common::free_port(), crate::common::free_port());
    let mut a = server_process(&db.url, pa, &config, &fast).await;
    let mut b = server_process(&db.url, pb, &config, &fast).await;
    for i in 0..60 {
        run(
            db.store.as_ref(),
            &format!("job-{}", i % 7),
            Status::Failed,
            "boom",
        )
        .await;
    }
    let got = answered(&receiver, Answer::Status(200), 60, Duration::from_secs(60)).await;
    // A little longer: a second delivery would show now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = receiver.received();
    assert_eq!(got.len(), 60, "every notification arrived");
    let keys = per_key(&got_after);
    assert_eq!(keys.len(), 60);
    assert!(keys.values().all(|n| *n == 1), "each once: {keys:?}");
    for r in &got_after {
        let timestamp = r.header("x-cronmon-timestamp").unwrap_or_default();
        assert_eq!(
            r.header("x-cronmon-signature").unwrap_or_default(),
            verify(SECRET, &timestamp, &r.body),
            "signed with the secret from the environment"
        );
    }
    for child in [&mut a, &mut b] {
        child.start_kill().expect("kill");
        child.wait().await.expect("wait");
    }
    let _ = std::fs::remove_file(&config);
    db.finish().await;
}

/// A server killed with SIGKILL while its sends hang: after a restart, once the dead claims'
/// lease ends, every notification is delivered, each accepted once, under the key it was
/// first sent with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_delivery_delivers_the_rest_after_restart() {
    for db in [TestDb::sqlite().await, TestDb::postgres().await] {
        let receiver = Receiver::scripted(&[], Answer::Hang).await;
        let config = config_file(&receiver);
        let args = [
            "--notify-poll",
            "20ms",
            "--notify-timeout",
            "2s",
            "--notify-lease",
            "4s",
        ];
        let port = crate::common::free_port();
        let mut server = server_process(&db.url, port, &config, &args).await;
        for i in 0..10 {
            run(
                db.store.as_ref(),
                &format!("job-{i}"),
                Status::Failed,
                "boom",
            )
            .await;
        }
        let hung = answered(&receiver, Answer::Hang, 10, Duration::from_secs(30)).await;
        assert_eq!(hung.len(), 10, "all ten in flight");
        server.start_kill().expect("SIGKILL");
        server.wait().await.expect("wait");
        receiver.answer_from_now(Answer::Status(200));

        let mut server = server_process(&db.url, port, &config, &args).await;
        let delivered = answered(&receiver, Answer::Status(200), 10, Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let delivered_keys = per_key(
            &receiver
                .received()
                .into_iter()
                .filter(|r| r.answer == Answer::Status(200))
                .collect::<Vec<_>>(),
        );
        assert_eq!(delivered.len(), 10, "{}: the rest delivered", db.url);
        assert!(
            delivered_keys.values().all(|n| *n == 1),
            "{delivered_keys:?}"
        );
        let first_keys = per_key(&hung);
        assert_eq!(
            first_keys.keys().collect::<std::collections::BTreeSet<_>>(),
            delivered_keys
                .keys()
                .collect::<std::collections::BTreeSet<_>>(),
            "resent under the keys they were first sent with"
        );
        let rows = all_notifications(db.store.as_ref()).await;
        assert!(
            rows.iter()
                .all(|n| n.status == NotificationStatus::Delivered && n.attempts == 2)
        );
        server.start_kill().expect("kill");
        server.wait().await.expect("wait");
        let _ = std::fs::remove_file(&config);
        db.finish().await;
    }
}

async fn a_flagged_duration_is_notified_once(db: &TestDb) {
    let store = &db.store;
    let receiver = Receiver::start().await;
    add(
        store.as_ref(),
        &webhook("ops", &receiver).on(&[NotifyOn::Anomaly]),
    )
    .await;
    // Runs shorter than 5 s are flagged `fast`; this one took 5 ms.
    store
        .upsert_schedule(
            &name("quick-check"),
            &ScheduleUpdate {
                min_duration_ms: Some(5_000),
                ..ScheduleUpdate::default()
            },
        )
        .await
        .expect("schedule");
    let quick = run(store.as_ref(), "quick-check", Status::Completed, "").await;
    sweeper(store).sweep(Utc::now()).await.expect("sweep");
    sweeper(store).sweep(Utc::now()).await.expect("sweep again");
    let rows = all_notifications(store.as_ref()).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].kind, NotificationKind::Anomaly);
    assert_eq!(rows[0].execution_id, Some(quick));
    drain(&notifier(store, fast()), store.as_ref()).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let body = got[0].json();
    assert_eq!(body["kind"], "anomaly");
    assert_eq!(body["run"]["anomaly"], "fast");
    assert!(
        body["title"]
            .as_str()
            .unwrap_or("")
            .contains("unusually fast"),
        "{body}"
    );
}
