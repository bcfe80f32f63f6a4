//! The dashboard: one HTML page and its assets, embedded in the binary (no Node at build time).
//!
//! `GET /dashboard` answers the page with the API base URL written into it, taken from the
//! mount point the request came through ([`NestedPath`], else [`OriginalUri`]), so the page
//! works wherever the router is nested. `GET /dashboard/assets/{file}` answers the script, the
//! style sheet and the vendored chart library. Neither needs the secret: the page asks for it
//! and sends it with each API call.

use std::hash::Hasher;
use std::sync::OnceLock;

use axum::{
    Router,
    extract::{NestedPath, OriginalUri, Path, rejection::NestedPathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use fnv::FnvHasher;

const PAGE: &str = include_str!("../assets/dashboard.html");

/// An embedded file.
struct Asset {
    name: &'static str,
    body: &'static [u8],
    content_type: &'static str,
    version: OnceLock<String>,
}

impl Asset {
    /// The version of the asset in its URL and its ETag: the FNV-1a hash of its bytes as 16
    /// hex digits, computed on first use.
    fn version(&self) -> &str {
        self.version.get_or_init(|| {
            let mut hasher = FnvHasher::default();
            hasher.write(self.body);
            format!("{:016x}", hasher.finish())
        })
    }
}

macro_rules! asset {
    ($name:literal, $path:literal, $ct:literal) => {
        Asset {
            name: $name,
            body: include_bytes!($path),
            content_type: $ct,
            version: OnceLock::new(),
        }
    };
}

static ASSETS: [Asset; 3] = [
    asset!(
        "dashboard.css",
        "../assets/dashboard.css",
        "text/css; charset=utf-8"
    ),
    asset!(
        "dashboard.js",
        "../assets/dashboard.js",
        "text/javascript; charset=utf-8"
    ),
    // Chart.js 4.6.1 (MIT, see assets/vendor/chart-4.6.1.LICENSE.md), the UMD build as published.
    asset!(
        "chart.umd.min.js",
        "../assets/vendor/chart-4.6.1.umd.min.js",
        "text/javascript; charset=utf-8"
    ),
];

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The page's policy: scripts and styles only from this origin, API calls only to it.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Routes of the dashboard, to merge into the API router outside its auth layer.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/", get(slash))
        .route("/dashboard/assets/{file}", get(asset))
}

/// The mount point of the router: `/api/admin` when nested there, `` at the root.
fn mount_point(nested: Result<NestedPath, NestedPathRejection>, original: &Uri) -> String {
    let base = match nested {
        Ok(n) => n.as_str().to_owned(),
        // Not nested: the router serves `/dashboard` itself, so what precedes it is the base
        // (empty, unless a host rewrote the path).
        Err(_) => {
            let path = original.path();
            let path = path.strip_suffix('/').unwrap_or(path);
            path.strip_suffix("/dashboard").unwrap_or("").to_owned()
        }
    };
    base.trim_end_matches('/').to_owned()
}

fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page with the API base and the versioned asset URLs written in.
fn render_page(base: &str) -> String {
    let url = |name: &str| {
        let a = find(name).expect("embedded asset");
        escape_attr(&format!("{base}/dashboard/assets/{name}?v={}", a.version()))
    };
    PAGE.replace("{{API_BASE}}", &escape_attr(base))
        .replace("{{ASSET_CSS}}", &url("dashboard.css"))
        .replace("{{ASSET_JS}}", &url("dashboard.js"))
        .replace("{{ASSET_CHART}}", &url("chart.umd.min.js"))
}

async fn page(
    nested: Result<NestedPath, NestedPathRejection>,
    OriginalUri(original): OriginalUri,
) -> Response {
    let base = mount_point(nested, &original);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        render_page(&base),
    )
        .into_response()
}

/// `/dashboard/` → `/dashboard`, built from the mount point.
async fn slash(
    nested: Result<NestedPath, NestedPathRejection>,
    OriginalUri(original): OriginalUri,
) -> Response {
    let base = mount_point(nested, &original);
    let target = format!("{base}/dashboard");
    match HeaderValue::from_str(&target) {
        Ok(v) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, v)]).into_response(),
        Err(_) => not_found("dashboard/"),
    }
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "error": { "code": "not_found", "message": format!("no dashboard asset {what}") }
        })),
    )
        .into_response()
}

async fn asset(Path(file): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let Some(a) = find(&file) else {
        return not_found(&file);
    };
    let version = a.version();
    let etag = format!("\"{version}\"");
    // A URL carrying the current version never changes: cache it for a year. Any other URL
    // (no version, an old one) is revalidated with the ETag.
    let versioned = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == format!("v={version}")));
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let etag_value = HeaderValue::from_str(&etag).expect("hex etag");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (header::ETAG, etag_value),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(a.content_type),
        )],
        a.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(app: Router, uri: &str, inm: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let mut req = Request::get(uri);
        if let Some(t) = inm {
            req = req.header(header::IF_NONE_MATCH, t);
        }
        let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn page_takes_its_urls_from_the_mount_point() {
        let app = Router::new().nest("/api/admin", routes::<()>());
        let (status, headers, body) = get(app.clone(), "/api/admin/dashboard", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
        assert!(body.contains(r#"<meta name="cronmon-api-base" content="/api/admin">"#));
        assert!(body.contains(r#"href="/api/admin/dashboard/assets/dashboard.css?v="#));
        assert!(body.contains(r#"src="/api/admin/dashboard/assets/dashboard.js?v="#));
        assert!(!body.contains("{{"));

        let (status, headers, _) = get(app.clone(), "/api/admin/dashboard/", None).await;
        assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(headers[header::LOCATION], "/api/admin/dashboard");

        // Deeper nesting, and at the root.
        let deep = Router::new().nest("/ops", Router::new().nest("/cron", routes::<()>()));
        let (_, _, body) = get(deep, "/ops/cron/dashboard", None).await;
        assert!(body.contains(r#"content="/ops/cron">"#), "{body}");
        let root = routes::<()>();
        let (_, _, body) = get(root, "/dashboard", None).await;
        assert!(body.contains(r#"<meta name="cronmon-api-base" content="">"#));
        assert!(body.contains(r#"href="/dashboard/assets/dashboard.css?v="#));
    }

    #[tokio::test]
    async fn assets_have_types_and_cache_headers() {
        let app = Router::new().nest("/api/admin", routes::<()>());
        for a in &ASSETS {
            let versioned = format!("/api/admin/dashboard/assets/{}?v={}", a.name, a.version());
            let (status, headers, body) = get(app.clone(), &versioned, None).await;
            assert_eq!(status, StatusCode::OK, "{}", a.name);
            assert_eq!(headers[header::CONTENT_TYPE], a.content_type);
            assert_eq!(
                headers[header::CACHE_CONTROL],
                "public, max-age=31536000, immutable"
            );
            assert_eq!(body.len(), a.body.len());
            let etag = headers[header::ETAG].to_str().unwrap().to_owned();

            let plain = format!("/api/admin/dashboard/assets/{}", a.name);
            let (_, headers, _) = get(app.clone(), &plain, None).await;
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
            let (status, _, body) = get(app.clone(), &plain, Some(&etag)).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED);
            assert!(body.is_empty());
        }
        assert_eq!(
            find("dashboard.css").unwrap().content_type,
            "text/css; charset=utf-8"
        );
        assert_eq!(
            find("dashboard.js").unwrap().content_type,
            "text/javascript; charset=utf-8"
        );

        let (status, _, body) = get(app, "/api/admin/dashboard/assets/..%2FCargo.toml", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("not_found"));
    }

    #[test]
    fn attributes_are_escaped() {
        assert_eq!(
            escape_attr(r#"/a"><script>&'"#),
            "/a&quot;&gt;&lt;script&gt;&amp;&#39;"
        );
    }
}
