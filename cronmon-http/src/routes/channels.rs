//! Notification channels: `GET /channels`, `GET /channels/{name}`, `PUT /channels/{name}`
//! (create or replace), `DELETE /channels/{name}` and `POST /channels/{name}/test`.
//!
//! Bodies are a channel's flat camelCase JSON ([`Channel`], without its name: the path names
//! it); answers are [`Channel::view`], which never holds a secret. A channel of the server's
//! config file is changed only there (409 here). Every rule is the core's
//! ([`Channel::validate`], applied by the store): its refusal is a 422 naming the field.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use cronmon_core::notify::{
    Channel, ChannelKind, ChannelSettings, ChannelSource, Message, Notification, NotificationKind,
    NotificationStatus, NotifyOn, channel_name,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Api;
use crate::channel_json;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParams, parse_value};

/// Answer of `GET /channels`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelsResponse {
    /// Always true.
    pub success: bool,
    /// Every channel, by name, as [`Channel::view`] shows it (no secret).
    #[schema(value_type = Vec<Object>)]
    pub channels: Vec<Value>,
}

/// Answer of `GET` and `PUT /channels/{name}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelResponse {
    /// Always true.
    pub success: bool,
    /// The channel, as the API shows it (no secret).
    #[schema(value_type = Object)]
    pub channel: Value,
}

/// Answer of `POST /channels/{name}/test`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TestResponse {
    /// Whether the receiver accepted the message.
    pub delivered: bool,
    /// The receiver's HTTP status (or SMTP reply code), if it answered.
    pub status: Option<i32>,
    /// Why it was not delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The channel named in the path, or a 422 naming `name`.
fn path_name(name: &str) -> Result<(), ApiError> {
    channel_name(name).map_err(ApiError::from)
}

/// The stored channel, or a 404.
async fn stored(api: &Api, name: &str) -> Result<Channel, ApiError> {
    api.store()
        .channel(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("unknown channel {name}")))
}

/// Refuses to change a channel of the config file.
fn not_from_config(channel: &Channel) -> Result<(), ApiError> {
    if channel.source == ChannelSource::Config {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "channel {} is defined in the server's config file; change it there",
                channel.name
            ),
        ));
    }
    Ok(())
}

/// Reads a `PUT` body into a channel named `name`. `kind` and `on` are checked here first so
/// that an unknown value is answered with the field and the values known (a 400, like every
/// unknown enum value of the API); the rest of the shape by serde (400), the rules by the
/// store (422).
fn channel_of(name: &str, mut body: Value) -> Result<Channel, ApiError> {
    let Some(fields) = body.as_object_mut() else {
        return Err(ApiError::bad_field("body", "expected a JSON object"));
    };
    match fields.get("kind") {
        None => return Err(ApiError::bad_field("kind", "missing field `kind`")),
        Some(Value::String(kind)) if kind.parse::<ChannelKind>().is_ok() => {}
        Some(_) => {
            return Err(ApiError::bad_field(
                "kind",
                format!(
                    "expected one of: {}",
                    texts(ChannelKind::ALL, |k| k.as_str())
                ),
            ));
        }
    }
    if let Some(Value::Array(on)) = fields.get("on")
        && let Some(bad) = on
            .iter()
            .position(|o| o.as_str().is_none_or(|o| o.parse::<NotifyOn>().is_err()))
    {
        return Err(ApiError::bad_field(
            format!("on[{bad}]"),
            format!("expected one of: {}", texts(NotifyOn::ALL, |o| o.as_str())),
        ));
    }
    match fields.remove("name") {
        None | Some(Value::Null) => {}
        Some(Value::String(n)) if n == name => {}
        Some(_) => {
            return Err(ApiError::unprocessable(
                "name",
                format!("the path names the channel `{name}`; leave `name` out or repeat it"),
            ));
        }
    }
    let (common, settings) = channel_json::split(std::mem::take(fields));
    let common: channel_json::Common = parse_value(common)?;
    let settings: ChannelSettings = parse_value(settings)?;
    Ok(common.into_channel(name, settings))
}

fn texts<T>(all: &[T], text: impl Fn(&T) -> &'static str) -> String {
    all.iter().map(text).collect::<Vec<_>>().join(", ")
}

/// Every channel, by name. Secrets are never shown: `secretsSet` names those that hold a
/// value; `failing` is true after three failed attempts in a row.
#[utoipa::path(
    get, path = "/channels", tag = "notifications",
    responses(
        (status = 200, description = "The channels", body = ChannelsResponse),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn list(State(api): State<Api>) -> Result<Json<ChannelsResponse>, ApiError> {
    let channels = api.store().channels().await?;
    Ok(Json(ChannelsResponse {
        success: true,
        channels: channels.iter().map(Channel::view).collect(),
    }))
}

/// One channel (no secret).
#[utoipa::path(
    get, path = "/channels/{name}", tag = "notifications",
    params(("name" = String, Path, description = "The channel")),
    responses(
        (status = 200, description = "The channel", body = ChannelResponse),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown channel", body = ErrorBody),
        (status = 422, description = "Not a channel name", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn channel(
    State(api): State<Api>,
    PathParams(name): PathParams<String>,
) -> Result<Json<ChannelResponse>, ApiError> {
    path_name(&name)?;
    let channel = stored(&api, &name).await?;
    Ok(Json(ChannelResponse {
        success: true,
        channel: channel.view(),
    }))
}

/// Creates or replaces a channel. The body is the channel's settings for its `kind` and its
/// filters; a write-only field left out (`secret`, `token`, `password`) keeps the stored one,
/// so a client can change a filter without knowing the secret.
#[utoipa::path(
    put, path = "/channels/{name}", tag = "notifications",
    params(("name" = String, Path, description = "The channel")),
    request_body(content = Object, description = "The channel (see `ChannelRequest`)"),
    responses(
        (status = 201, description = "Created", body = ChannelResponse),
        (status = 200, description = "Replaced", body = ChannelResponse),
        (status = 400, description = "Bad JSON, an unknown kind or field, or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 409, description = "Defined in the server's config file", body = ErrorBody),
        (status = 422, description = "A value cronmon does not accept (named)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn put(
    State(api): State<Api>,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<ChannelResponse>), ApiError> {
    path_name(&name)?;
    let mut channel = channel_of(&name, body)?;
    if let Some(old) = api.store().channel(&name).await? {
        not_from_config(&old)?;
        channel.settings.inherit_secrets(&old.settings);
    }
    let created = api.store().put_channel(&channel, Utc::now()).await?;
    // The view of what is stored, health included.
    let shown = match api.store().channel(&name).await? {
        Some(c) => c.view(),
        None => channel.view(),
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ChannelResponse {
            success: true,
            channel: shown,
        }),
    ))
}

/// Deletes a channel and its notifications.
#[utoipa::path(
    delete, path = "/channels/{name}", tag = "notifications",
    params(("name" = String, Path, description = "The channel")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown channel", body = ErrorBody),
        (status = 409, description = "Defined in the server's config file", body = ErrorBody),
        (status = 422, description = "Not a channel name", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn delete(
    State(api): State<Api>,
    PathParams(name): PathParams<String>,
) -> Result<Response, ApiError> {
    path_name(&name)?;
    let channel = stored(&api, &name).await?;
    not_from_config(&channel)?;
    if api.store().delete_channel(&name).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("unknown channel {name}")))
    }
}

/// Sends a test message to the channel now and answers what the receiver said (waiting at
/// most the notifier's timeout). Nothing is stored: the message is not in the outbox.
#[utoipa::path(
    post, path = "/channels/{name}/test", tag = "notifications",
    params(("name" = String, Path, description = "The channel")),
    responses(
        (status = 200, description = "Delivered", body = TestResponse),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown channel", body = ErrorBody),
        (status = 422, description = "Not a channel name", body = ErrorBody),
        (status = 502, description = "Not delivered: the receiver refused it or did not answer", body = TestResponse),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn test(
    State(api): State<Api>,
    PathParams(name): PathParams<String>,
) -> Result<Response, ApiError> {
    path_name(&name)?;
    let channel = stored(&api, &name).await?;
    let Some(sender) = api.sender() else {
        return Err(ApiError::unavailable(
            "notifications cannot be sent from this server (see its log)",
        ));
    };
    let now = Utc::now();
    let notification = Notification {
        id: Uuid::now_v7(),
        channel: channel.name.clone(),
        kind: NotificationKind::Test,
        cron_name: None,
        incident_id: None,
        execution_id: None,
        created_at: now,
        status: NotificationStatus::Sending,
        attempts: 0,
        next_attempt_at: None,
        delivered_at: None,
        last_status: None,
        last_error: None,
    };
    let message = Message::new(
        &notification,
        None,
        None,
        None,
        api.config().public_url.as_ref(),
    );
    // The sender bounds the whole attempt by its timeout (the notifier's): a test never
    // holds a request for longer.
    let answer = match sender.send(&channel, &message).await {
        Ok(sent) => (
            StatusCode::OK,
            TestResponse {
                delivered: true,
                status: sent.status,
                error: None,
            },
        ),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            TestResponse {
                delivered: false,
                status: e.status,
                error: Some(e.message),
            },
        ),
    };
    Ok((answer.0, Json(answer.1)).into_response())
}
