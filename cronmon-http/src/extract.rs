//! Extractors that turn every rejection (bad JSON, wrong types, body too large, bad query or
//! path) into the API's JSON error shape, naming the field at fault.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::ApiError;

/// A JSON body. An empty body reads as `{}`; the content type is not checked (shell clients
/// send JSON with whatever content type curl puts there).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the body is larger than the limit (1 MiB unless configured)",
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", r.body_text())
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as JSON into `T`, naming the field at fault on error.
///
/// A number with no fractional part (`5.0`, `1e3`) is an integer in JSON Schema, so an integer
/// field of the body (or of the objects of a body that is an array) takes it as that integer,
/// as the OpenAPI document promises.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    // serde reads a struct from an array of its fields in order, which no client means and
    // the document (an object) forbids.
    if bytes.trim_ascii_start().first() == Some(&b'[') && reads_as_struct::<T>() {
        return Err(ApiError::bad_field(
            "body",
            "invalid type: array, expected a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let first = match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => value,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            // Only a body refused for what it holds is read again: the usual body parses once.
            if inner.classify() == Category::Data
                && let Some(value) = with_integral_floats_as_integers(bytes)
            {
                return serde_path_to_error::deserialize(value).map_err(|e| {
                    let path = e.path().to_string();
                    json_error(&path, &e.into_inner())
                });
            }
            return Err(json_error(&path, &inner));
        }
    };
    de.end().map_err(|e| json_error(".", &e))?;
    Ok(first)
}

/// `bytes` as a JSON value whose integral floats (at the top level, or in the objects of a
/// top-level array) are integers; `None` if there is none (reading it again would not help).
fn with_integral_floats_as_integers(bytes: &[u8]) -> Option<serde_json::Value> {
    use serde_json::Value;
    fn fix(v: &mut Value) -> bool {
        let Some(f) = v.as_f64().filter(|_| !v.is_i64() && !v.is_u64()) else {
            return false;
        };
        // i64::MAX as f64 is 2^63, one past the largest i64: the bound is exclusive.
        if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
            *v = Value::from(f as i64);
            return true;
        }
        false
    }
    fn fix_fields(v: &mut Value) -> bool {
        match v {
            Value::Object(map) => map.values_mut().fold(false, |any, v| fix(v) | any),
            _ => false,
        }
    }
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    let changed = match &mut value {
        Value::Array(items) => items.iter_mut().fold(false, |any, v| fix_fields(v) | any),
        other => fix_fields(other),
    };
    changed.then_some(value)
}

/// Whether `T` reads itself as a struct, asked of its `Deserialize` impl (which answers at
/// once, before reading anything).
fn reads_as_struct<T: DeserializeOwned>() -> bool {
    use serde::de::{Deserializer, Visitor};

    #[derive(Debug)]
    struct Answer(bool);
    impl std::fmt::Display for Answer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "struct: {}", self.0)
        }
    }
    impl std::error::Error for Answer {}
    impl serde::de::Error for Answer {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Answer(false)
        }
    }
    struct Probe;
    impl<'de> Deserializer<'de> for Probe {
        type Error = Answer;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Answer> {
            Err(Answer(false))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Answer> {
            Err(Answer(true))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    matches!(T::deserialize(Probe), Err(Answer(true)))
}

/// Reads an already parsed JSON `value` (one item of a batch) into `T`, naming the field at
/// fault like [`parse_json`].
pub(crate) fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        json_error(&path, &e.into_inner())
    })
}

fn json_error(path: &str, e: &serde_json::Error) -> ApiError {
    let message = e.to_string();
    match e.classify() {
        Category::Data => {
            // "missing field `cronName`" names its field only in the message.
            let field = if path == "." || path.is_empty() {
                message
                    .split('`')
                    .nth(1)
                    .filter(|_| message.starts_with("missing field"))
                    .unwrap_or("body")
                    .to_owned()
            } else {
                path.to_owned()
            };
            ApiError::bad_field(field, strip_position(&message))
        }
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {message}"),
        ),
    }
}

/// serde_json's " at line 1 column 20" tells nothing once the field is named.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Query parameters. Use a struct of `Option<String>` and parse each field by hand, so a bad
/// value is reported with its name.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text()))
    }
}

/// Path parameters.
#[derive(Debug, Clone)]
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParams(p.0))
            .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", r.body_text()))
    }
}
