//! Requests to the real router: in-process with `tower::ServiceExt::oneshot` (no socket), or
//! over loopback with reqwest for a server that listens.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use cronmon::http::{Api, Config};
use cronmon::store::Store;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::SECRET;

/// The API and dashboard over `store`, nested at `/api/admin` as the standalone server does.
pub fn app(store: Arc<dyn Store>) -> Router {
    Router::new().nest(
        "/api/admin",
        cronmon::http::router(Api::new(store, Config::new(SECRET))),
    )
}

/// A request to `/api/admin{path}`, with a JSON body if given, and the secret if `secret`.
pub fn request(method: &str, path: &str, body: Option<&Value>, secret: bool) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("/api/admin{path}"))
        .header("content-type", "application/json");
    if secret {
        b = b.header("x-cron-secret", SECRET);
    }
    b.body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
        .expect("a valid request")
}

/// Sends `req`; answers status, headers and the body as text.
pub async fn call_raw(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let res = app.clone().oneshot(req).await.expect("infallible");
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
    (status, headers, text)
}

/// [`call_raw`] of [`request`].
pub async fn call(
    app: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    secret: bool,
) -> (StatusCode, HeaderMap, String) {
    call_raw(app, request(method, path, body.as_ref(), secret)).await
}

/// An authenticated `GET`: status, headers and body text (CSV, Prometheus text, HTML).
pub async fn get_text(app: &Router, path: &str) -> (StatusCode, HeaderMap, String) {
    call(app, "GET", path, None, true).await
}

/// Sends `req`; answers status and the JSON body (`null` when empty).
pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let (status, _, text) = call_raw(app, req).await;
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, value)
}

/// An authenticated request with an optional JSON body.
pub fn req(method: &str, path: &str, body: Option<&Value>) -> Request<Body> {
    request(method, path, body, true)
}

pub async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    send(app, req("GET", path, None)).await
}

pub async fn post(app: &Router, path: &str, body: Value) -> (StatusCode, Value) {
    send(app, req("POST", path, Some(&body))).await
}

pub async fn put(app: &Router, path: &str, body: Value) -> (StatusCode, Value) {
    send(app, req("PUT", path, Some(&body))).await
}

/// The body of a `GET` that must answer 200 with JSON.
pub async fn get_json(app: &Router, path: &str) -> Value {
    let (status, body) = get(app, path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// An error answer: the status, and the JSON error shape with its code.
pub fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

/// A client for servers on loopback. The timeout only stops a hung test: tests assert what
/// happened, never how fast (a busy machine may take long).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(180))
        .build()
        .expect("reqwest client")
}

/// `GET {base}{path}` over the socket, with the secret: status and JSON body.
pub async fn get_url(base: &str, path: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{base}{path}"))
        .header("X-Cron-Secret", SECRET)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {base}{path}: {e:?}"));
    (r.status().as_u16(), r.json().await.expect("JSON answer"))
}

/// `POST {base}{path}` over the socket, with the secret and a JSON body.
pub async fn post_url(base: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{base}{path}"))
        .header("X-Cron-Secret", SECRET)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {base}{path}: {e:?}"));
    (r.status().as_u16(), r.json().await.expect("JSON answer"))
}
