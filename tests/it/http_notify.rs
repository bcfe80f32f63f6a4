//! The notification endpoints over the real router on both databases: channels created,
//! replaced, shown without their secrets, deleted; a config file's channels read-only; the
//! test endpoint sending a signed webhook to a real receiver on loopback (signed with the
//! secret a PUT without it kept); refusals as 4xx naming the field; the outbox listed and
//! filtered. And the `server` binary refusing a config file that names a missing variable.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post as route_post;
use cronmon::store::Store;
use cronmon_http::config_file::ConfigFile;
use serde_json::{Value, json};

use crate::common::http::{app, assert_error, get, get_text, post, put, req, send};
use crate::common::server::Running;
use crate::common::{SECRET, TestDb};

const HOOK_SECRET: &str = "0123456789abcdef-hook";

/// The requests a receiver got: headers and body of each.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A webhook receiver on loopback: answers `status` and keeps what it was sent.
struct Receiver {
    url: String,
    got: Received,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(status: StatusCode) -> Self {
        let got: Received = Arc::default();
        let kept = got.clone();
        let app = Router::new().route(
            "/hook",
            route_post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    kept.lock().unwrap().push((headers, body.to_vec()));
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, got, task }
    }

    fn received(&self) -> Vec<(HeaderMap, Vec<u8>)> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn webhook(url: &str, secret: Option<&str>) -> Value {
    let mut body = json!({"kind": "webhook", "url": url, "on": ["opened", "resolved"]});
    if let Some(s) = secret {
        body["secret"] = json!(s);
    }
    body
}

/// No secret anywhere in a text the API answered.
fn assert_no_secret(text: &str) {
    assert!(!text.contains(HOOK_SECRET), "a secret is shown: {text}");
    assert!(!text.contains("s3cr3t-token"), "a token is shown: {text}");
    assert!(
        !text.contains("SECRETPATH"),
        "a chat URL's path is shown: {text}"
    );
}

async fn crud_round_trip(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let (s, b) = get(&app, "/channels").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["channels"], json!([]));

    let (s, b) = put(
        &app,
        "/channels/ops-hook",
        webhook("https://hooks.example.com/x", Some(HOOK_SECRET)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let shown = &b["channel"];
    assert_eq!(shown["name"], "ops-hook");
    assert_eq!(shown["kind"], "webhook");
    assert_eq!(shown["url"], "https://hooks.example.com/x");
    assert_eq!(shown["secretsSet"], json!(["secret"]));
    assert_eq!(shown["source"], "api");
    assert_eq!(shown["failing"], false);
    assert_no_secret(&b.to_string());

    // Replaced: 200, the new filters stored.
    let mut changed = webhook("https://hooks.example.com/y", Some(HOOK_SECRET));
    changed["on"] = json!(["failed_run"]);
    changed["crons"] = json!(["billing-*"]);
    changed["repeatEveryMs"] = json!(3_600_000);
    changed["name"] = json!("ops-hook");
    let (s, b) = put(&app, "/channels/ops-hook", changed).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["channel"]["on"], json!(["failed_run"]));
    assert_eq!(b["channel"]["crons"], json!(["billing-*"]));
    assert_eq!(b["channel"]["repeatEveryMs"], 3_600_000);

    for (name, body) in [
        (
            "ops-slack",
            json!({"kind": "slack", "url": "https://hooks.slack.com/services/T0/B0/SECRETPATH"}),
        ),
        (
            "ops-ntfy",
            json!({"kind": "ntfy", "url": "https://ntfy.sh/cronmon", "token": "s3cr3t-token"}),
        ),
        (
            "ops-mail",
            json!({"kind": "email", "host": "smtp.example.com", "username": "cronmon",
                   "password": HOOK_SECRET, "from": "cronmon <cronmon@example.com>",
                   "to": ["ops@example.com"], "mutedUntil": "2026-12-24T00:00:00Z"}),
        ),
    ] {
        let (s, b) = put(&app, &format!("/channels/{name}"), body).await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {b}");
    }

    // Secrets never in any GET.
    let (s, _, list) = get_text(&app, "/channels").await;
    assert_eq!(s, StatusCode::OK);
    assert_no_secret(&list);
    let list: Value = serde_json::from_str(&list).unwrap();
    let names: Vec<&str> = list["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ops-hook", "ops-mail", "ops-ntfy", "ops-slack"]);
    for name in names {
        let (s, _, one) = get_text(&app, &format!("/channels/{name}")).await;
        assert_eq!(s, StatusCode::OK, "{one}");
        assert_no_secret(&one);
    }
    let (_, mail) = get(&app, "/channels/ops-mail").await;
    assert_eq!(mail["channel"]["secretsSet"], json!(["password"]));
    assert_eq!(mail["channel"]["tls"], "starttls");

    // Deleted: 204, then 404 on every verb.
    let (s, _) = send(&app, req("DELETE", "/channels/ops-slack", None)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = get(&app, "/channels/ops-slack").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = send(&app, req("DELETE", "/channels/ops-slack", None)).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = post(&app, "/channels/ops-slack/test", json!({})).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    assert!(store.channel("ops-slack").await.unwrap().is_none());

    // Behind the secret like the rest.
    let (s, b) = send(
        &app,
        crate::common::http::request("GET", "/channels", None, false),
    )
    .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn refusals_name_the_field(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let refused = |want: StatusCode, field: &'static str| {
        move |(s, b): (StatusCode, Value)| {
            assert_eq!(s, want, "{field}: {b}");
            assert_eq!(b["error"]["field"], field, "{b}");
        }
    };
    let unprocessable = |field| refused(StatusCode::UNPROCESSABLE_ENTITY, field);
    let bad = |field| refused(StatusCode::BAD_REQUEST, field);

    unprocessable("url")(put(&app, "/channels/a", webhook("not a url", Some(HOOK_SECRET))).await);
    unprocessable("url")(
        put(
            &app,
            "/channels/a",
            webhook("ftp://example.com/x", Some(HOOK_SECRET)),
        )
        .await,
    );
    unprocessable("secret")(put(&app, "/channels/a", webhook("https://example.com/x", None)).await);
    unprocessable("secret")(
        put(
            &app,
            "/channels/a",
            webhook("https://example.com/x", Some("short")),
        )
        .await,
    );
    // A chat webhook's URL is its secret: refused without being quoted back.
    let (s, b) = put(
        &app,
        "/channels/a",
        json!({"kind": "slack", "url": "ftp://hooks.slack.com/services/SECRETPATH"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["error"]["field"], "url", "{b}");
    assert_no_secret(&b.to_string());
    unprocessable("to")(
        put(
            &app,
            "/channels/a",
            json!({"kind": "email", "host": "smtp", "from": "a@example.com", "to": ["nobody"]}),
        )
        .await,
    );
    let mut no_on = webhook("https://example.com/x", Some(HOOK_SECRET));
    no_on["on"] = json!([]);
    unprocessable("on")(put(&app, "/channels/a", no_on).await);
    let mut repeat = webhook("https://example.com/x", Some(HOOK_SECRET));
    repeat["repeatEveryMs"] = json!(1000);
    unprocessable("repeatEveryMs")(put(&app, "/channels/a", repeat).await);
    let mut other_name = webhook("https://example.com/x", Some(HOOK_SECRET));
    other_name["name"] = json!("b");
    unprocessable("name")(put(&app, "/channels/a", other_name).await);
    unprocessable("name")(
        put(
            &app,
            "/channels/no%20spaces",
            webhook("https://example.com/x", Some(HOOK_SECRET)),
        )
        .await,
    );

    // Unknown enum values and fields are the shape's: 400 naming them, like the other
    // endpoints.
    bad("kind")(
        put(
            &app,
            "/channels/a",
            json!({"kind": "pager", "url": "https://x.example"}),
        )
        .await,
    );
    bad("kind")(put(&app, "/channels/a", json!({"url": "https://x.example"})).await);
    let mut bad_on = webhook("https://example.com/x", Some(HOOK_SECRET));
    bad_on["on"] = json!(["opened", "sometimes"]);
    bad("on[1]")(put(&app, "/channels/a", bad_on).await);
    let (s, b) = put(
        &app,
        "/channels/a",
        json!({"kind": "ntfy", "url": "https://ntfy.sh/t", "host": "x"}),
    )
    .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_field");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("host"),
        "{b}"
    );
    let (s, b) = put(&app, "/channels/a", json!({"kind": "webhook", "url": 5})).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_field");
    let (s, b) = put(&app, "/channels/a", json!([1, 2])).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_field");
    let (s, b) = put(
        &app,
        "/channels/a",
        json!({"kind": "ntfy", "url": "https://ntfy.sh/t", "mutedUntil": "tomorrow"}),
    )
    .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_field");
    // A NUL in a setting: refused, never a 500.
    let (s, b) = put(
        &app,
        "/channels/a",
        json!({"kind": "ntfy", "url": "https://ntfy.sh/t", "token": "a\u{0}b"}),
    )
    .await;
    assert!(s.is_client_error(), "{s}: {b}");

    assert!(store.channels().await.unwrap().is_empty(), "nothing stored");
}

/// The test endpoint signs with the secret a PUT without it kept; a refusing receiver is a
/// 502 with its status.
async fn test_endpoint_signs_with_the_kept_secret(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let ok = Receiver::start(StatusCode::OK).await;
    let (s, b) = put(&app, "/channels/hook", webhook(&ok.url, Some(HOOK_SECRET))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Replaced without the secret: it is kept.
    let mut again = webhook(&ok.url, None);
    again["on"] = json!(["opened", "failed_run"]);
    let (s, b) = put(&app, "/channels/hook", again).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["channel"]["secretsSet"], json!(["secret"]));
    assert_eq!(b["channel"]["on"], json!(["opened", "failed_run"]));

    let (s, b) = post(&app, "/channels/hook/test", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b, json!({"delivered": true, "status": 200}));
    let received = ok.received();
    assert_eq!(received.len(), 1);
    let (headers, body) = &received[0];
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let timestamp: i64 = header("x-cronmon-timestamp").parse().unwrap();
    assert_eq!(
        header("x-cronmon-signature"),
        cronmon_core::notify::sign(HOOK_SECRET.as_bytes(), timestamp, body)
    );
    assert_eq!(header("x-cronmon-kind"), "test");
    let sent: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(sent["kind"], "test", "{sent}");

    let failing = Receiver::start(StatusCode::INTERNAL_SERVER_ERROR).await;
    let (s, b) = put(&app, "/channels/hook", webhook(&failing.url, None)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = post(&app, "/channels/hook/test", json!({})).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{b}");
    assert_eq!(b["delivered"], false);
    assert_eq!(b["status"], 500);
    assert!(b["error"].is_string(), "{b}");
    assert_eq!(failing.received().len(), 1);

    // Nobody listening: no status, still a bounded 502.
    let closed = format!("http://127.0.0.1:{}/hook", crate::common::free_port());
    let (s, b) = put(&app, "/channels/hook", webhook(&closed, None)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = post(&app, "/channels/hook/test", json!({})).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{b}");
    assert_eq!(b["status"], Value::Null);
}

/// A failed run written through the API leaves a notification for a channel that wants
/// failed runs of that cron, and the list's filters find it.
async fn notifications_are_listed_and_filtered(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let mut wants = webhook("https://hooks.example.com/x", Some(HOOK_SECRET));
    wants["on"] = json!(["failed_run"]);
    wants["crons"] = json!(["billing-*"]);
    assert_eq!(
        put(&app, "/channels/billing", wants).await.0,
        StatusCode::CREATED
    );
    let mut all = webhook("https://hooks.example.com/y", Some(HOOK_SECRET));
    all["on"] = json!(["failed_run"]);
    assert_eq!(put(&app, "/channels/all", all).await.0, StatusCode::CREATED);

    for cron in ["billing-invoices", "backup"] {
        let (s, b) = post(
            &app,
            "/cron-executions/start",
            json!({"cronName": cron, "triggerType": "scheduled"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let id = b["executionId"].clone();
        let (s, b) = post(
            &app,
            "/cron-executions/complete",
            json!({"executionId": id, "status": "failed", "errorMessage": "boom"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }

    let list = |query: &'static str| {
        let app = app.clone();
        async move {
            let (s, b) = get(&app, &format!("/notifications{query}")).await;
            assert_eq!(s, StatusCode::OK, "{query}: {b}");
            b
        }
    };
    let every = list("").await;
    assert_eq!(every["pagination"]["total"], 3, "{every}");
    let rows = every["notifications"].as_array().unwrap();
    assert!(
        rows.iter()
            .all(|n| n["kind"] == "failed_run" && n["status"] == "pending")
    );

    let billing = list("?channel=billing").await;
    assert_eq!(billing["pagination"]["total"], 1, "{billing}");
    assert_eq!(billing["notifications"][0]["cron_name"], "billing-invoices");
    let backup = list("?cronName=backup").await;
    assert_eq!(backup["pagination"]["total"], 1, "{backup}");
    assert_eq!(backup["notifications"][0]["channel"], "all");
    assert_eq!(
        list("?cron=backup&channel=all").await["pagination"]["total"],
        1
    );
    assert_eq!(list("?status=pending").await["pagination"]["total"], 3);
    assert_eq!(list("?status=delivered").await["pagination"]["total"], 0);
    let paged = list("?limit=2&page=2").await;
    assert_eq!(paged["notifications"].as_array().unwrap().len(), 1);

    let id = billing["notifications"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, one) = get(&app, &format!("/notifications/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["notification"]["channel"], "billing");
    let (s, b) = get(&app, "/notifications/0195f1d2-0000-7000-8000-000000000000").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = get(&app, "/notifications/nope").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = get(&app, "/notifications?status=lost").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_query");
    let (s, b) = get(&app, "/notifications?limit=100000").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_query");

    // The metrics count what waits and show each channel's health.
    let (s, _, text) = get_text(&app, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("cronmon_notifications_pending 3\n"), "{text}");
    assert!(
        text.contains("cronmon_channel_failing{channel=\"billing\"} 0\n"),
        "{text}"
    );
}

on_both_databases!(
    crud_round_trip,
    refusals_name_the_field,
    test_endpoint_signs_with_the_kept_secret,
    notifications_are_listed_and_filtered,
);

/// A server started with a config file: its channels are stored with source `config`, shown,
/// and refused to the API (409); the API's own channels beside them still change.
async fn config_channels_are_read_only(db: &TestDb) {
    let dir = std::env::temp_dir().join(format!("cronmon-config-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cronmon.toml");
    std::fs::write(
        &path,
        format!(
            r#"
public_url = "https://cron.example.com/"
[notifications]
timeout = "3s"

[[channel]]
name = "from-file"
kind = "webhook"
url = "https://hooks.example.com/file"
secret = "{HOOK_SECRET}"
on = ["opened", "resolved", "failed_run"]
crons = ["billing-*"]
repeat_every = "4h"
"#
        ),
    )
    .unwrap();
    let file = ConfigFile::load(&path).unwrap();
    let server = Running::start(&db.url, |c| {
        c.channels = file.channels.clone();
        c.notifier.public_url = file.public_url.clone();
    })
    .await;
    let base = server.base.clone();
    let client = crate::common::http::client();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = client
            .request(method, format!("{base}{path}"))
            .header("X-Cron-Secret", SECRET);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    let (s, b) = call(reqwest::Method::GET, "/channels/from-file", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["channel"]["source"], "config");
    assert_eq!(b["channel"]["repeatEveryMs"], 4 * 3_600_000);
    assert_no_secret(&b.to_string());

    let (s, b) = call(
        reqwest::Method::PUT,
        "/channels/from-file",
        Some(webhook("https://hooks.example.com/api", Some(HOOK_SECRET))),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("defined in the server's config file"),
        "{b}"
    );
    let (s, b) = call(reqwest::Method::DELETE, "/channels/from-file", None).await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = call(
        reqwest::Method::PUT,
        "/channels/from-api",
        Some(webhook("https://hooks.example.com/api", Some(HOOK_SECRET))),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let stored = db.store.channel("from-file").await.unwrap().unwrap();
    assert_eq!(stored.crons, ["billing-*"]);
    server.stop().await;

    // Started again without it: the file's channel is gone, the API's stays.
    let server = Running::start(&db.url, |_| {}).await;
    assert!(db.store.channel("from-file").await.unwrap().is_none());
    assert!(db.store.channel("from-api").await.unwrap().is_some());
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

mod config_channels {
    #[tokio::test]
    async fn sqlite() {
        let db = crate::common::TestDb::sqlite().await;
        super::config_channels_are_read_only(&db).await;
        db.finish().await;
    }

    #[tokio::test]
    async fn postgres() {
        let db = crate::common::TestDb::postgres().await;
        super::config_channels_are_read_only(&db).await;
        db.finish().await;
    }
}

/// The `server` binary refuses a config file naming a variable that is not set: it exits
/// non-zero before listening, and says which variable and which channel.
#[tokio::test]
async fn a_config_file_with_a_missing_variable_stops_the_server() {
    let dir = std::env::temp_dir().join(format!("cronmon-config-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cronmon.toml");
    std::fs::write(
        &path,
        r#"
[[channel]]
name = "mail"
kind = "email"
host = "smtp.example.com"
username = "cronmon"
password = "${CRONMON_TEST_UNSET_PASSWORD}"
from = "cronmon@example.com"
to = ["ops@example.com"]
"#,
    )
    .unwrap();
    let port = crate::common::free_port();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(crate::common::server_binary())
            .args(["--config", path.to_str().unwrap()])
            .env(
                "CRONMON_URL",
                format!("sqlite://{}", dir.join("db.sqlite").display()),
            )
            .env("CRONMON_BIND", format!("127.0.0.1:{port}"))
            .env("CRON_SECRET", SECRET)
            .env_remove("CRONMON_TEST_UNSET_PASSWORD")
            .env_remove("CRONMON_CONFIG")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the server exits")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exited {:?}: {stderr}", out.status);
    assert!(
        stderr.contains("CRONMON_TEST_UNSET_PASSWORD") && stderr.contains("channel \"mail\""),
        "{stderr}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens"
    );
    assert!(
        !dir.join("db.sqlite").exists(),
        "stopped before opening the database"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
