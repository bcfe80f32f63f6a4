//! The shared secret: which requests carry it, and the middleware that answers 401 to the
//! others.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Api, ApiError};

impl Api {
    /// Whether the request's headers carry the secret, in `X-Cron-Secret` or
    /// `Authorization: Bearer`. The SHA-256 digests of the two are compared in constant time:
    /// equal lengths always, so the time taken says nothing about the secret, not even its
    /// length. An empty secret lets nobody in.
    pub fn is_authorized(&self, headers: &HeaderMap) -> bool {
        let Some(secret) = &self.inner.secret_digest else {
            return false;
        };
        let given = headers
            .get("x-cron-secret")
            .map(|v| v.as_bytes())
            .or_else(|| {
                let v = headers.get(header::AUTHORIZATION)?.as_bytes();
                (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ")).then(|| &v[7..])
            });
        given.is_some_and(|g| secret_matches(g, secret))
    }
}

/// The digest requests are compared to; `None` for an empty secret, which lets nobody in.
pub(crate) fn digest_of(secret: &str) -> Option<[u8; 32]> {
    (!secret.is_empty()).then(|| Sha256::digest(secret.as_bytes()).into())
}

/// Whether `given` (white space around it ignored) hashes to `secret`, compared in constant
/// time.
fn secret_matches(given: &[u8], secret: &[u8; 32]) -> bool {
    let given = Sha256::digest(given.trim_ascii());
    bool::from(given.as_slice().ct_eq(secret.as_slice()))
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

#[cfg(test)]
mod tests {
    use super::{digest_of, secret_matches};

    #[test]
    fn only_the_exact_secret_matches() {
        let secret = digest_of("s3cret-value").expect("a secret");
        assert!(secret_matches(b"s3cret-value", &secret));
        assert!(secret_matches(b" s3cret-value ", &secret));
        for wrong in ["s3cret", "s3cret-value2", "S3CRET-VALUE", "", "x"] {
            assert!(!secret_matches(wrong.as_bytes(), &secret), "{wrong:?}");
        }
        assert!(digest_of("").is_none(), "an empty secret lets nobody in");
    }
}
