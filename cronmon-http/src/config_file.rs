//! The standalone server's config file (TOML): the public URL its messages link to, the
//! notifier's settings and the notification channels.
//!
//! ```toml
//! public_url = "https://cron.example.com/"
//!
//! [notifications]
//! timeout = "10s"
//! retry_base = "30s"
//! retry_max = "1h"
//! max_attempts = 10
//!
//! [[channel]]
//! name = "ops-webhook"
//! kind = "webhook"
//! url = "https://hooks.example.com/cronmon"
//! secret = "${CRONMON_WEBHOOK_SECRET}"
//! on = ["opened", "resolved", "failed_run"]
//! crons = ["billing-*"]
//! repeat_every = "4h"
//! ```
//!
//! Keys are snake_case; a channel takes the fields of its kind as the API does
//! (`PUT /channels/{name}`), with `repeat_every` a duration (`"4h"`) and `muted_until` a time.
//! `${NAME}` in any string is the environment variable `NAME` (a missing one is an error naming
//! it); `$$` is a literal `$`, and a `$` followed by anything else is left as is. Unknown keys,
//! duplicate channel names and invalid channels are refused, each error naming the channel.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cronmon_core::notify::{Channel, ChannelSource, NotifierConfig};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A config file that cannot be used, and why (the path is in the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// What a config file says. Every field is optional in the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigFile {
    /// Where the dashboard is served; messages link into it.
    pub public_url: Option<url::Url>,
    /// How long one attempt to send may take.
    pub timeout: Option<Duration>,
    /// The first retry's delay (doubled at each failure, with jitter).
    pub retry_base: Option<Duration>,
    /// The longest delay between retries.
    pub retry_max: Option<Duration>,
    /// Attempts before a notification is given up.
    pub max_attempts: Option<u32>,
    /// The channels, validated, with source `config`.
    pub channels: Vec<Channel>,
    /// Batch kinds and the SQL query of each (checked against the database at start).
    pub batch_sources: Vec<(String, String)>,
}

/// One `[[batch_source]]`: a batch kind and the query that reports its figures.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatchSource {
    kind: String,
    sql: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    public_url: Option<String>,
    #[serde(default)]
    notifications: RawNotifications,
    #[serde(default)]
    channel: Vec<toml::Table>,
    #[serde(default)]
    batch_source: Vec<RawBatchSource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotifications {
    timeout: Option<String>,
    retry_base: Option<String>,
    retry_max: Option<String>,
    max_attempts: Option<u32>,
}

/// The keys a `[[channel]]` may hold (which of them a kind takes is checked with the kind).
const CHANNEL_KEYS: &[&str] = &[
    "name",
    "kind",
    "url",
    "secret",
    "token",
    "host",
    "port",
    "tls",
    "username",
    "password",
    "from",
    "to",
    "on",
    "crons",
    "repeat_every",
    "muted_until",
];

impl ConfigFile {
    /// Reads and checks the file at `path`, with `${NAME}` from the process environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
        Self::parse(&text, Utc::now(), &|name| std::env::var(name).ok())
            .map_err(|e| ConfigError(format!("config file {}: {}", path.display(), e.0)))
    }

    /// Parses and checks `text` at `now`, `${NAME}` read from `env`.
    pub fn parse(
        text: &str,
        now: DateTime<Utc>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError(toml_error(&e)))?;
        let expand = |where_: &str, s: &str| {
            expand_env(s, env).map_err(|e| ConfigError(format!("{where_}: {e}")))
        };
        let public_url = raw
            .public_url
            .map(|u| {
                let u = expand("public_url", &u)?;
                let parsed = url::Url::parse(&u)
                    .map_err(|e| ConfigError(format!("public_url: `{u}` is not a URL: {e}")))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(ConfigError(format!(
                        "public_url: `{u}` is not an http:// or https:// URL"
                    )));
                }
                Ok(parsed)
            })
            .transpose()?;
        let n = raw.notifications;
        let duration = |key: &str, v: Option<String>, min: Duration, max: Duration| {
            v.map(|v| {
                let where_ = format!("notifications.{key}");
                let v = expand(&where_, &v)?;
                let d = humantime::parse_duration(v.trim())
                    .map_err(|e| ConfigError(format!("{where_}: `{v}`: {e}")))?;
                if d < min || d > max {
                    return Err(ConfigError(format!(
                        "{where_}: must be from {} to {}",
                        humantime::format_duration(min),
                        humantime::format_duration(max)
                    )));
                }
                Ok(d)
            })
            .transpose()
        };
        const SECOND: Duration = Duration::from_secs(1);
        const DAY: Duration = Duration::from_secs(86_400);
        let timeout = duration(
            "timeout",
            n.timeout,
            Duration::from_millis(10),
            Duration::from_secs(300),
        )?;
        let retry_base = duration("retry_base", n.retry_base, SECOND, DAY)?;
        let retry_max = duration("retry_max", n.retry_max, SECOND, 7 * DAY)?;
        if let (Some(base), Some(max)) = (retry_base, retry_max)
            && base > max
        {
            return Err(ConfigError(
                "notifications: retry_base is longer than retry_max".into(),
            ));
        }
        if let Some(m) = n.max_attempts
            && !(1..=NotifierConfig::MAX_ATTEMPTS_MAX).contains(&m)
        {
            return Err(ConfigError(format!(
                "notifications.max_attempts: must be from 1 to {}",
                NotifierConfig::MAX_ATTEMPTS_MAX
            )));
        }
        let mut channels = Vec::with_capacity(raw.channel.len());
        let mut names = HashSet::new();
        for (i, table) in raw.channel.into_iter().enumerate() {
            let channel = channel_of(i, table, now, env)?;
            if !names.insert(channel.name.clone()) {
                return Err(ConfigError(format!(
                    "channel \"{}\": defined twice",
                    channel.name
                )));
            }
            channels.push(channel);
        }
        let mut batch_sources: Vec<(String, String)> = Vec::with_capacity(raw.batch_source.len());
        for b in raw.batch_source {
            cronmon_core::batch::batch_kind(&b.kind)
                .map_err(|e| ConfigError(format!("batch_source \"{}\": {e}", b.kind)))?;
            if batch_sources.iter().any(|(k, _)| *k == b.kind) {
                return Err(ConfigError(format!(
                    "batch_source \"{}\": defined twice",
                    b.kind
                )));
            }
            let sql = expand(&format!("batch_source \"{}\": sql", b.kind), &b.sql)?;
            batch_sources.push((b.kind, sql));
        }
        Ok(ConfigFile {
            batch_sources,
            public_url,
            timeout,
            retry_base,
            retry_max,
            max_attempts: n.max_attempts,
            channels,
        })
    }
}

/// toml's message, on one line with its position.
fn toml_error(e: &toml::de::Error) -> String {
    let message = e.message().trim();
    match e.span() {
        Some(span) => format!("{message} (at byte {})", span.start),
        None => message.to_owned(),
    }
}

/// One `[[channel]]` (the `i`-th) as a checked channel.
fn channel_of(
    i: usize,
    table: toml::Table,
    now: DateTime<Utc>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Channel, ConfigError> {
    let name = match table.get("name") {
        Some(toml::Value::String(n)) => n.clone(),
        Some(_) => {
            return Err(ConfigError(format!(
                "channel #{}: `name` is a string",
                i + 1
            )));
        }
        None => {
            return Err(ConfigError(format!(
                "channel #{}: `name` is missing",
                i + 1
            )));
        }
    };
    let fail = |message: String| ConfigError(format!("channel \"{name}\": {message}"));
    let mut fields = Map::new();
    for (key, value) in table {
        if !CHANNEL_KEYS.contains(&key.as_str()) {
            return Err(fail(format!(
                "unknown key `{key}` (a channel takes: {})",
                CHANNEL_KEYS.join(", ")
            )));
        }
        let value = json_of(&key, value, env).map_err(&fail)?;
        match key.as_str() {
            "name" => {}
            "repeat_every" => {
                let Value::String(text) = &value else {
                    return Err(fail("repeat_every: a duration such as \"4h\"".into()));
                };
                let ms = cronmon_core::rules::parse_duration_ms("repeat_every", text)
                    .map_err(|e| fail(format!("repeat_every: {}", e.message)))?;
                fields.insert("repeatEveryMs".into(), Value::from(ms));
            }
            "muted_until" => {
                fields.insert("mutedUntil".into(), value);
            }
            _ => {
                fields.insert(key, value);
            }
        }
    }
    let (common, settings) = crate::channel_json::split(fields);
    let common: crate::channel_json::Common =
        serde_json::from_value(common).map_err(|e| fail(snake_case_message(&e)))?;
    let settings = serde_json::from_value(settings).map_err(|e| fail(snake_case_message(&e)))?;
    let mut channel = common.into_channel(&name, settings);
    channel.source = ChannelSource::Config;
    channel.validate(now).map_err(|e| match e {
        cronmon_core::Error::InvalidField { field, message } => {
            fail(format!("invalid {}: {message}", snake_case(field)))
        }
        other => fail(other.to_string()),
    })?;
    Ok(channel)
}

/// serde's message with the API's field names as the file spells them.
fn snake_case_message(e: &serde_json::Error) -> String {
    e.to_string()
        .replace("repeatEveryMs", "repeat_every")
        .replace("mutedUntil", "muted_until")
}

/// An API field name as the file spells it.
fn snake_case(field: &str) -> &str {
    match field {
        "repeatEveryMs" => "repeat_every",
        "mutedUntil" => "muted_until",
        other => other,
    }
}

/// A TOML value as JSON, every string's `${NAME}` expanded (`key` names it in errors).
fn json_of(
    key: &str,
    value: toml::Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => {
            Value::String(expand_env(&s, env).map_err(|e| format!("{key}: {e}"))?)
        }
        toml::Value::Integer(n) => Value::from(n),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::from(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| json_of(key, v, env))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => Value::Object(
            t.into_iter()
                .map(|(k, v)| Ok((k.clone(), json_of(&format!("{key}.{k}"), v, env)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// `${NAME}` replaced by the environment variable `NAME`, `$$` by `$`; any other `$` kept.
pub fn expand_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let Some(end) = tail.find('}') else {
                return Err("`${` without its closing `}` (write `$$` for a literal `$`)".into());
            };
            let name = &tail[..end];
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "`${{{name}}}` does not name an environment variable (letters, digits, `_`)"
                ));
            }
            match env(name) {
                Some(value) => out.push_str(&value),
                None => return Err(format!("environment variable {name} is not set")),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOOK_SECRET" => Some("0123456789abcdef".into()),
            "SMTP_PASSWORD" => Some("pa$$word".into()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<ConfigFile, String> {
        ConfigFile::parse(text, Utc::now(), &env).map_err(|e| e.0)
    }

    const FULL: &str = r#"
public_url = "https://cron.example.com/"

[notifications]
timeout = "5s"
retry_base = "30s"
retry_max = "1h"
max_attempts = 7

[[channel]]
name = "ops-webhook"
kind = "webhook"
url = "https://hooks.example.com/x"
secret = "${HOOK_SECRET}"
on = ["opened", "resolved", "failed_run"]
crons = ["billing-*"]
repeat_every = "4h"
muted_until = 2026-12-24T00:00:00Z

[[channel]]
name = "mail"
kind = "email"
host = "smtp.example.com"
port = 587
tls = "starttls"
username = "cronmon"
password = "${SMTP_PASSWORD}"
from = "cronmon <cronmon@example.com>"
to = ["ops@example.com"]
"#;

    #[test]
    fn reads_a_full_file() {
        let c = parse(FULL).unwrap();
        assert_eq!(
            c.public_url.as_ref().map(url::Url::as_str),
            Some("https://cron.example.com/")
        );
        assert_eq!(c.timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.retry_max, Some(Duration::from_secs(3600)));
        assert_eq!(c.max_attempts, Some(7));
        assert_eq!(c.channels.len(), 2);
        let hook = &c.channels[0];
        assert_eq!(hook.name, "ops-webhook");
        assert_eq!(hook.source, ChannelSource::Config);
        assert_eq!(hook.repeat_every_ms, Some(4 * 3600 * 1000));
        assert_eq!(
            hook.muted_until.map(|t| t.to_rfc3339()),
            Some("2026-12-24T00:00:00+00:00".to_owned())
        );
        assert_eq!(hook.settings.secrets_set(), vec!["secret"]);
        // The environment's value is taken as is: its `$$` is not expanded again.
        let shown = format!("{:?}", c.channels[1].settings);
        assert!(!shown.contains("pa$$word"), "{shown}");
        match &c.channels[1].settings {
            cronmon_core::notify::ChannelSettings::Email { password, .. } => {
                assert_eq!(password.as_deref(), Some("pa$$word"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_empty_file_is_fine() {
        assert_eq!(parse("").unwrap(), ConfigFile::default());
    }

    #[test]
    fn expands_and_escapes() {
        assert_eq!(
            expand_env("a${HOOK_SECRET}b", &env).unwrap(),
            "a0123456789abcdefb"
        );
        assert_eq!(expand_env("cost $$5 or $5", &env).unwrap(), "cost $5 or $5");
        let err = expand_env("${NOPE}", &env).unwrap_err();
        assert!(err.contains("NOPE"), "{err}");
        assert!(expand_env("${oops", &env).is_err());
        assert!(expand_env("${a-b}", &env).is_err());
    }

    #[test]
    fn errors_name_the_channel_and_the_field() {
        let missing = FULL.replace("${HOOK_SECRET}", "${MISSING_SECRET}");
        let err = parse(&missing).unwrap_err();
        assert!(
            err.contains("channel \"ops-webhook\"") && err.contains("MISSING_SECRET"),
            "{err}"
        );

        let bad_to = FULL.replace("[\"ops@example.com\"]", "[\"ops\"]");
        let err = parse(&bad_to).unwrap_err();
        assert!(err.starts_with("channel \"mail\": invalid to:"), "{err}");

        let unknown = FULL.replace("port = 587", "prot = 587");
        let err = parse(&unknown).unwrap_err();
        assert!(
            err.contains("channel \"mail\"") && err.contains("prot"),
            "{err}"
        );

        let camel = FULL.replace("repeat_every = \"4h\"", "repeatEveryMs = 14400000");
        assert!(parse(&camel).unwrap_err().contains("repeatEveryMs"));

        let twice = format!(
            "{FULL}\n[[channel]]\nname = \"mail\"\nkind = \"ntfy\"\nurl = \"https://ntfy.sh/x\"\n"
        );
        let err = parse(&twice).unwrap_err();
        assert!(err.contains("\"mail\": defined twice"), "{err}");

        let kind = FULL.replace("kind = \"email\"", "kind = \"pager\"");
        let err = parse(&kind).unwrap_err();
        assert!(
            err.contains("channel \"mail\"") && err.contains("pager"),
            "{err}"
        );

        let top = format!("junk = 1\n{FULL}");
        assert!(parse(&top).unwrap_err().contains("junk"));

        let short = FULL.replace("timeout = \"5s\"", "timeout = \"5 parsecs\"");
        assert!(parse(&short).unwrap_err().contains("notifications.timeout"));

        let repeat = FULL.replace("\"4h\"", "\"1m\"");
        let err = parse(&repeat).unwrap_err();
        assert!(err.contains("invalid repeat_every"), "{err}");
    }
}
