//! The body of `PUT /channels/{name}` (`ChannelRequest`): one object schema per channel kind,
//! told apart by `kind`, each with the channel's filters. It is written by hand because the
//! core's [`Channel`](cronmon_core::notify::Channel) is a flattened, internally tagged enum,
//! which utoipa cannot describe as the flat object the API reads.
//!
//! The schema says what the server reads (types, required fields, enums, no other field);
//! rules that span fields or depend on the clock or on the stored channel (a webhook's secret
//! kept when left out, `username` with `password`, `mutedUntil` within a year) are in the
//! descriptions and answered with a 422 naming the field.

use cronmon_core::notify::{
    CHANNEL_CRONS_MAX, CHANNEL_NAME_MAX_CHARS, ChannelKind, NotifyOn, REPEAT_MAX_MS, REPEAT_MIN_MS,
    SmtpTls,
};
use serde_json::{Map, Value, json};
use utoipa::Modify;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};

/// A channel's name: what the core's `channel_name` accepts.
pub(crate) const CHANNEL_NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

/// Adds `ChannelRequest` and points the `PUT` body at it; describes the `name` path parameter.
#[derive(Debug)]
pub(crate) struct Channels;

impl Modify for Channels {
    fn modify(&self, doc: &mut OpenApi) {
        if let Ok(schema) = serde_json::from_value::<Schema>(request_schema()) {
            doc.components
                .get_or_insert_with(Default::default)
                .schemas
                .insert("ChannelRequest".to_owned(), RefOr::T(schema));
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/channels/{name}") {
                continue;
            }
            let ops = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                for p in op.parameters.iter_mut().flatten() {
                    if let RefOr::T(p) = p
                        && p.name == "name"
                        && p.parameter_in == ParameterIn::Path
                    {
                        p.schema = serde_json::from_value(json!({
                            "type": "string",
                            "minLength": 1,
                            "maxLength": CHANNEL_NAME_MAX_CHARS,
                            "pattern": CHANNEL_NAME_PATTERN,
                        }))
                        .ok();
                    }
                }
            }
            if let Some(put) = item.put.as_mut()
                && let Some(RefOr::T(body)) = put.request_body.as_mut()
                && let Some(RefOr::T(content)) = body.content.get_mut("application/json")
            {
                content.schema = Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ChannelRequest",
                )));
            }
        }
    }
}

fn texts<T>(all: &[T], text: impl Fn(&T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(text).collect()
}

/// An optional text: absent, null or a string.
fn optional_text(description: &str) -> Value {
    json!({"type": ["string", "null"], "description": description})
}

/// The schema of one kind: its own fields, the filters, nothing else.
fn kind_schema(kind: ChannelKind, fields: Value, own_required: &[&str]) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "kind".into(),
        json!({"type": "string", "enum": [kind.as_str()]}),
    );
    properties.insert(
        "name".into(),
        optional_text("The channel's name: left out, or the path's."),
    );
    if let Value::Object(fields) = fields {
        properties.extend(fields);
    }
    properties.insert(
        "on".into(),
        json!({
            "type": "array",
            "items": {"type": "string", "enum": texts(NotifyOn::ALL, |o| o.as_str())},
            "description": "What the channel is sent (at least one; default `opened`, \
                            `resolved`): incident openings (and reminders, and the summary after \
                            cronmon's own downtime), resolutions, each failed run, missed slot, \
                            stuck run, or run of unusual duration."
        }),
    );
    properties.insert(
        "crons".into(),
        json!({
            "type": "array",
            "items": {"type": "string"},
            "maxItems": CHANNEL_CRONS_MAX,
            "description": "Cron name patterns (`*` any characters, `?` one); none or empty: \
                            every cron."
        }),
    );
    properties.insert(
        "repeatEveryMs".into(),
        json!({
            "type": ["integer", "null"],
            "format": "int64",
            "minimum": REPEAT_MIN_MS,
            "maximum": REPEAT_MAX_MS,
            "description": "Repeat the notification of an incident still open this often, ms \
                            (5 min to 30 days)."
        }),
    );
    properties.insert(
        "mutedUntil".into(),
        json!({
            "type": ["string", "null"],
            "format": "date-time",
            "description": "Send nothing until then (at most a year ahead); what falls due \
                            meanwhile is marked `muted`."
        }),
    );
    let mut required = vec!["kind"];
    required.extend_from_slice(own_required);
    json!({
        "type": "object",
        "title": kind.as_str(),
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// `ChannelRequest`: one of the kinds.
fn request_schema() -> Value {
    let url = |description: &str| json!({"type": "string", "description": description});
    let chat = |kind: ChannelKind, what: &str| {
        kind_schema(
            kind,
            json!({ "url": url(&format!(
                "The {what} URL; a secret itself, shown only by its origin."
            )) }),
            &["url"],
        )
    };
    json!({
        "description": "A channel: where notifications go (by `kind`) and which ones it \
                        wants. `secret`, `token` and `password` are write-only: never shown, \
                        and a PUT that leaves one out keeps the stored value.",
        "oneOf": [
            kind_schema(ChannelKind::Webhook, json!({
                "url": url("`http://` or `https://` URL the versioned JSON body is POSTed to."),
                "secret": optional_text("HMAC-SHA256 key of `X-Cronmon-Signature`, 16 to 256 \
                                         bytes. Needed: left out, the stored one is kept."),
            }), &["url"]),
            chat(ChannelKind::Slack, "Slack incoming webhook"),
            chat(ChannelKind::Discord, "Discord webhook"),
            chat(ChannelKind::Teams, "Microsoft Teams workflow"),
            kind_schema(ChannelKind::Ntfy, json!({
                "url": url("The topic URL (`https://ntfy.sh/my-topic`)."),
                "token": optional_text("Access token of a protected topic."),
            }), &["url"]),
            kind_schema(ChannelKind::Email, json!({
                "host": {"type": "string", "description": "SMTP server host."},
                "port": {"type": ["integer", "null"], "minimum": 0, "maximum": 65535,
                         "description": "Default by `tls`: 587, 465 or 25."},
                "tls": {"type": "string", "enum": texts(SmtpTls::ALL, |t| t.as_str()),
                        "description": "Default `starttls` (which must succeed)."},
                "username": optional_text("SMTP user (with `password`)."),
                "password": optional_text("SMTP password (with `username`)."),
                "from": {"type": "string",
                         "description": "Sender: `user@example.com` or `Name <user@example.com>`."},
                "to": {"type": "array", "items": {"type": "string"},
                       "description": "Recipients, 1 to 50."},
            }), &["host", "from", "to"]),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_schema_is_a_schema_and_lists_every_kind() {
        let schema: Schema = serde_json::from_value(request_schema()).unwrap();
        let back = serde_json::to_value(schema).unwrap();
        let kinds: Vec<&str> = back["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["properties"]["kind"]["enum"][0].as_str().unwrap())
            .collect();
        assert_eq!(kinds, texts(ChannelKind::ALL, |k| k.as_str()));
        for s in back["oneOf"].as_array().unwrap() {
            assert_eq!(s["additionalProperties"], false);
        }
    }

    #[test]
    fn the_document_points_the_put_body_at_it() {
        let doc: Value = serde_json::from_str(&crate::openapi::document_json()).unwrap();
        let put = &doc["paths"]["/channels/{name}"]["put"];
        assert_eq!(
            put["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ChannelRequest"
        );
        assert!(doc["components"]["schemas"]["ChannelRequest"]["oneOf"].is_array());
        for path in ["/channels/{name}", "/channels/{name}/test"] {
            for (method, op) in doc["paths"][path].as_object().unwrap() {
                let name = op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == "name")
                    .unwrap();
                assert_eq!(
                    name["schema"]["pattern"], CHANNEL_NAME_PATTERN,
                    "{method} {path}"
                );
            }
        }
        let status = doc["paths"]["/notifications"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "status")
            .unwrap()
            .clone();
        assert!(status.to_string().contains("given_up"), "{status}");
    }
}
