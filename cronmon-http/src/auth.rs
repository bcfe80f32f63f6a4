//! The shared secret: which requests carry it, and the middleware that answers 401 to the
//! others.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::{Api, ApiError};

impl Api {
    /// Whether the request's headers carry the secret, in `X-Cron-Secret` or
    /// `Authorization: Bearer` (compared in constant time). An empty secret lets nobody in.
    pub fn is_authorized(&self, headers: &HeaderMap) -> bool {
        let secret = self.config().secret.as_bytes();
        if secret.is_empty() {
            return false;
        }
        let given = headers
            .get("x-cron-secret")
            .map(|v| v.as_bytes())
            .or_else(|| {
                let v = headers.get(header::AUTHORIZATION)?.as_bytes();
                (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ")).then(|| &v[7..])
            });
        given.is_some_and(|g| bool::from(g.trim_ascii().ct_eq(secret)))
    }
}

/// Lets a request through when it carries the secret; answers 401 otherwise.
pub(crate) async fn require_secret(
    State(api): State<Api>,
    request: Request,
    next: Next,
) -> Response {
    if api.is_authorized(request.headers()) {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}
