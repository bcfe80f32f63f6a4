//! Channels: where notifications go and which ones they want, checked once here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ChannelHealth, ChannelKind, NotifyOn, invalid};
use crate::error::{Error, Result};
use crate::model::text_enum;
use crate::rules::limits::{DAY_MS, SHORT_TEXT_MAX_BYTES};

use std::fmt;
use std::str::FromStr;

/// Most characters of a channel name.
pub const CHANNEL_NAME_MAX_CHARS: usize = 64;
/// Most cron patterns a channel filters on.
pub const CHANNEL_CRONS_MAX: usize = 100;
/// Most recipients of an email channel.
pub const EMAIL_RECIPIENTS_MAX: usize = 50;
/// Shortest repeat of an open incident's notification: 5 minutes.
pub const REPEAT_MIN_MS: i64 = 5 * 60_000;
/// Longest repeat: 30 days.
pub const REPEAT_MAX_MS: i64 = 30 * DAY_MS;
/// Latest a channel can be muted until: a year from now.
pub const MUTE_MAX_MS: i64 = 366 * DAY_MS;

text_enum!(
    /// How an email channel talks to its SMTP server.
    SmtpTls, "tls" {
        /// Plain connection upgraded with STARTTLS, which must succeed (port 587 by default).
        Starttls = "starttls",
        /// TLS from the first byte (port 465 by default).
        Tls = "tls",
        /// No encryption, for a relay on the same host or network (port 25 by default).
        None = "none",
    }
);

text_enum!(
    /// Where a channel was defined.
    ChannelSource, "source" {
        /// The server's config file: it is replaced at each start, and the API does not change it.
        Config = "config",
        /// The API.
        Api = "api",
    }
);

/// Where a channel sends, by kind. Secret-bearing fields (`secret`, `password`, `token`) are
/// write-only: [`Channel::view`] never shows them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelSettings {
    /// The versioned JSON body, POSTed with `X-Cronmon-Signature`.
    Webhook {
        /// `http://` or `https://` URL.
        url: String,
        /// HMAC-SHA256 key of the signature (at least 16 bytes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// A Slack incoming webhook URL (`https://hooks.slack.com/services/…`).
    Slack {
        /// The webhook URL; it is a secret, shown only by its host.
        url: String,
    },
    /// A Discord webhook URL (`https://discord.com/api/webhooks/…`).
    Discord {
        /// The webhook URL; it is a secret, shown only by its host.
        url: String,
    },
    /// A Microsoft Teams workflow ("Post to a channel when a webhook request is received") URL.
    Teams {
        /// The workflow URL; it is a secret, shown only by its host.
        url: String,
    },
    /// An ntfy topic URL (`https://ntfy.sh/my-topic`); priority follows the kind.
    Ntfy {
        /// The topic URL.
        url: String,
        /// Access token of a protected topic.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Email over SMTP.
    Email {
        /// SMTP server host.
        host: String,
        /// Its port (default by `tls`: 587, 465 or 25).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        /// `starttls` (default), `tls` or `none`.
        #[serde(default = "starttls")]
        tls: SmtpTls,
        /// SMTP user.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        /// SMTP password.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        /// Sender address (`cronmon <cronmon@example.com>`).
        from: String,
        /// Recipients.
        to: Vec<String>,
    },
}

fn starttls() -> SmtpTls {
    SmtpTls::Starttls
}

// Never print a secret, not even in a debug log.
impl fmt::Debug for ChannelSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ChannelSettings")
            .field(&self.kind())
            .field(&Value::Object(self.redacted()))
            .finish()
    }
}

impl ChannelSettings {
    /// The kind.
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelSettings::Webhook { .. } => ChannelKind::Webhook,
            ChannelSettings::Slack { .. } => ChannelKind::Slack,
            ChannelSettings::Discord { .. } => ChannelKind::Discord,
            ChannelSettings::Teams { .. } => ChannelKind::Teams,
            ChannelSettings::Ntfy { .. } => ChannelKind::Ntfy,
            ChannelSettings::Email { .. } => ChannelKind::Email,
        }
    }

    /// The settings as the API shows them: no secret, chat webhook URLs (secrets themselves)
    /// cut to their origin.
    pub fn redacted(&self) -> Map<String, Value> {
        let mut shown = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        for secret in ["secret", "password", "token"] {
            shown.remove(secret);
        }
        if matches!(
            self,
            ChannelSettings::Slack { .. }
                | ChannelSettings::Discord { .. }
                | ChannelSettings::Teams { .. }
        ) && let Some(Value::String(url)) = shown.get_mut("url")
        {
            *url = match url::Url::parse(url) {
                Ok(u) => format!("{}/…", u.origin().ascii_serialization()),
                Err(_) => "…".to_owned(),
            };
        }
        shown.remove("kind");
        shown
    }

    /// Names of the write-only fields that hold a value.
    pub fn secrets_set(&self) -> Vec<&'static str> {
        match self {
            ChannelSettings::Webhook {
                secret: Some(_), ..
            } => vec!["secret"],
            ChannelSettings::Ntfy { token: Some(_), .. } => vec!["token"],
            ChannelSettings::Email {
                password: Some(_), ..
            } => vec!["password"],
            ChannelSettings::Slack { .. }
            | ChannelSettings::Discord { .. }
            | ChannelSettings::Teams { .. } => vec!["url"],
            _ => vec![],
        }
    }

    /// Keeps the write-only fields of `old` that these settings leave out (a `PUT` that does
    /// not repeat a secret keeps it), when both are of one kind.
    pub fn inherit_secrets(&mut self, old: &ChannelSettings) {
        match (self, old) {
            (
                ChannelSettings::Webhook { secret, .. },
                ChannelSettings::Webhook { secret: kept, .. },
            ) if secret.is_none() => *secret = kept.clone(),
            (ChannelSettings::Ntfy { token, .. }, ChannelSettings::Ntfy { token: kept, .. })
                if token.is_none() =>
            {
                *token = kept.clone()
            }
            (
                ChannelSettings::Email { password, .. },
                ChannelSettings::Email { password: kept, .. },
            ) if password.is_none() => *password = kept.clone(),
            _ => {}
        }
    }

    /// Checks the settings: URLs parse with an `http(s)` scheme and a host, a webhook has its
    /// secret, addresses parse.
    pub fn validate(&self) -> Result<()> {
        match self {
            ChannelSettings::Webhook { url, secret } => {
                http_url("url", url)?;
                match secret {
                    None => Err(invalid(
                        "secret",
                        "a webhook channel needs a `secret` (at least 16 bytes) to sign its bodies",
                    )),
                    Some(s) if s.len() < 16 || s.len() > 256 => {
                        Err(invalid("secret", "is 16 to 256 bytes long"))
                    }
                    Some(_) => Ok(()),
                }
            }
            ChannelSettings::Slack { url }
            | ChannelSettings::Discord { url }
            // `http://` too: Mattermost and Rocket.Chat take Slack's format on internal hosts.
            | ChannelSettings::Teams { url } => http_url("url", url).map(drop),
            ChannelSettings::Ntfy { url, token } => {
                let u = http_url("url", url)?;
                if u.path().trim_matches('/').is_empty() {
                    return Err(invalid(
                        "url",
                        "an ntfy URL names its topic: https://ntfy.sh/my-topic",
                    ));
                }
                short_text("token", token.as_deref())
            }
            ChannelSettings::Email {
                host,
                port,
                username,
                password,
                from,
                to,
                ..
            } => {
                if host.is_empty() || host.len() > 253 || host.chars().any(char::is_whitespace) {
                    return Err(invalid("host", "is a host name or address"));
                }
                if *port == Some(0) {
                    return Err(invalid("port", "is 1 to 65535"));
                }
                short_text("username", username.as_deref())?;
                short_text("password", password.as_deref())?;
                if username.is_some() != password.is_some() {
                    return Err(invalid("password", "`username` and `password` go together"));
                }
                mailbox("from", from)?;
                if to.is_empty() {
                    return Err(invalid("to", "names at least one recipient"));
                }
                if to.len() > EMAIL_RECIPIENTS_MAX {
                    return Err(invalid(
                        "to",
                        format!("names at most {EMAIL_RECIPIENTS_MAX} recipients"),
                    ));
                }
                to.iter().try_for_each(|a| mailbox("to", a))
            }
        }
    }
}

fn short_text(field: &'static str, value: Option<&str>) -> Result<()> {
    match value {
        Some(v) if v.is_empty() || v.len() > SHORT_TEXT_MAX_BYTES => Err(invalid(
            field,
            format!("is 1 to {SHORT_TEXT_MAX_BYTES} bytes long"),
        )),
        Some(v) if v.chars().any(char::is_control) => {
            Err(invalid(field, "cannot hold control characters"))
        }
        _ => Ok(()),
    }
}

/// An `http://` or `https://` URL with a host. The URL itself is never quoted back: a chat
/// webhook's URL is its secret.
fn http_url(field: &'static str, raw: &str) -> Result<url::Url> {
    if raw.len() > 2048 {
        return Err(invalid(field, "is at most 2048 bytes long"));
    }
    let u = url::Url::parse(raw).map_err(|e| invalid(field, format!("is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(invalid(field, "is an http:// or https:// URL"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(invalid(field, "names a host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(invalid(field, "cannot carry a user or password"));
    }
    Ok(u)
}

/// An address `user@host` or `Name <user@host>`, the way an SMTP envelope needs it.
fn mailbox(field: &'static str, raw: &str) -> Result<()> {
    let address = match (raw.rfind('<'), raw.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => raw,
    };
    let ok = raw.len() <= 320
        && !raw.chars().any(char::is_control)
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address
                    .chars()
                    .any(|c| c.is_whitespace() || c == '<' || c == '>')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!(
                "`{raw}` is not an email address (user@example.com or Name <user@example.com>)"
            ),
        ))
    }
}

/// A channel: its name, where it sends, which notifications it wants.
///
/// ```
/// use cronmon_core::notify::{Channel, ChannelSettings, NotifyOn};
/// let channel = Channel::new(
///     "ops-slack",
///     ChannelSettings::Slack { url: "https://hooks.slack.com/services/T0/B0/XYZ".into() },
/// )
/// .on(&[NotifyOn::Opened, NotifyOn::Resolved, NotifyOn::Stuck])
/// .crons(&["billing-*"]);
/// assert!(channel.validate(chrono::Utc::now()).is_ok());
/// assert!(channel.wants("billing-invoices"));
/// assert!(!channel.wants("backup"));
/// ```
/// (The API and the config file read a channel's flat JSON in `cronmon-http`, naming the field
/// a refusal is about; [`Channel::view`] is what they show.)
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// Its name: letters, digits, `-`, `_`, `.` (1 to 64).
    pub name: String,
    /// Where it sends.
    pub settings: ChannelSettings,
    /// What it is sent (default: `opened`, `resolved`).
    pub on: Vec<NotifyOn>,
    /// Cron name patterns (`*` any characters, `?` one); none: every cron.
    pub crons: Vec<String>,
    /// Repeat the notification of an incident still open this often, ms (5 min to 30 days).
    pub repeat_every_ms: Option<i64>,
    /// Nothing is sent until then; what falls due meanwhile is marked `muted`.
    pub muted_until: Option<DateTime<Utc>>,
    /// Where it was defined (set by the server, not by a request).
    pub source: ChannelSource,
    /// Its delivery health (kept by the notifier).
    pub health: ChannelHealth,
}

impl Channel {
    /// A channel with the default filters: incident openings and resolutions, every cron.
    pub fn new(name: impl Into<String>, settings: ChannelSettings) -> Self {
        Channel {
            name: name.into(),
            settings,
            on: NotifyOn::defaults(),
            crons: Vec::new(),
            repeat_every_ms: None,
            muted_until: None,
            source: ChannelSource::Api,
            health: ChannelHealth::default(),
        }
    }

    /// Only these notifications.
    pub fn on(mut self, on: &[NotifyOn]) -> Self {
        self.on = on.to_vec();
        self
    }

    /// Only crons matching these patterns.
    pub fn crons(mut self, patterns: &[&str]) -> Self {
        self.crons = patterns.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// Checks everything a store needs to hold: the name, the settings, the filters, the
    /// repeat and the mute (at most a year after `now`).
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        channel_name(&self.name)?;
        self.settings.validate()?;
        if self.on.is_empty() {
            return Err(invalid(
                "on",
                format!(
                    "lists at least one of: {}",
                    NotifyOn::ALL
                        .iter()
                        .map(|o| o.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if self.crons.len() > CHANNEL_CRONS_MAX {
            return Err(invalid(
                "crons",
                format!("lists at most {CHANNEL_CRONS_MAX} patterns"),
            ));
        }
        for pattern in &self.crons {
            crate::rules::cron_name(pattern).map_err(|e| invalid("crons", e.message))?;
        }
        if let Some(ms) = self.repeat_every_ms
            && !(REPEAT_MIN_MS..=REPEAT_MAX_MS).contains(&ms)
        {
            return Err(invalid(
                "repeatEveryMs",
                format!("is {REPEAT_MIN_MS} (5 min) to {REPEAT_MAX_MS} (30 days)"),
            ));
        }
        if let Some(until) = self.muted_until
            && (until - now).num_milliseconds() > MUTE_MAX_MS
        {
            return Err(invalid("mutedUntil", "is at most a year from now"));
        }
        Ok(())
    }

    /// Whether notifications about `cron` go to this channel (its patterns; none: all).
    pub fn wants(&self, cron: &str) -> bool {
        self.crons.is_empty() || self.crons.iter().any(|p| glob_matches(p, cron))
    }

    /// The channel as the API shows it: no secret (see [`ChannelSettings::redacted`]), the
    /// names of the write-only fields that are set, its source and its health.
    pub fn view(&self) -> Value {
        let mut shown = Map::new();
        shown.insert("name".into(), Value::from(self.name.clone()));
        shown.insert("kind".into(), Value::from(self.settings.kind().as_str()));
        shown.extend(self.settings.redacted());
        shown.insert(
            "on".into(),
            Value::from(self.on.iter().map(|o| o.as_str()).collect::<Vec<_>>()),
        );
        shown.insert("crons".into(), Value::from(self.crons.clone()));
        shown.insert("repeatEveryMs".into(), Value::from(self.repeat_every_ms));
        shown.insert(
            "mutedUntil".into(),
            self.muted_until
                .map_or(Value::Null, |t| Value::from(t.to_rfc3339())),
        );
        shown.insert("source".into(), Value::from(self.source.as_str()));
        shown.insert(
            "secretsSet".into(),
            Value::from(self.settings.secrets_set()),
        );
        shown.insert("failing".into(), Value::from(self.health.is_failing()));
        shown.insert(
            "health".into(),
            serde_json::to_value(&self.health).unwrap_or(Value::Null),
        );
        Value::Object(shown)
    }
}

/// Checks a channel name: 1 to 64 of `A-Z a-z 0-9 - _ .`, so it reads well in a URL (and not
/// `.` or `..`, which a URL path cannot hold as a segment).
pub fn channel_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= CHANNEL_NAME_MAX_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidField {
            field: "name",
            message: format!(
                "a channel name is 1 to {CHANNEL_NAME_MAX_CHARS} of letters, digits, `-`, `_`, `.` (not `.` or `..`)"
            ),
        })
    }
}

/// `*` matches any characters, `?` one; everything else itself.
pub(crate) fn glob_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // The classic two-pointer match with one backtrack point: linear in practice, never
    // exponential.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == n[ni])) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A glob as a PostgreSQL `LIKE … ESCAPE '\'` pattern.
pub(crate) fn glob_to_like(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A glob as an SQLite `GLOB` pattern (case-sensitive, unlike its `LIKE`): `[` is the only
/// other character `GLOB` reads specially.
pub(crate) fn glob_to_sqlite(pattern: &str) -> String {
    pattern.replace('[', "[[]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(secret: Option<&str>) -> ChannelSettings {
        ChannelSettings::Webhook {
            url: "https://example.com/hook".into(),
            secret: secret.map(str::to_owned),
        }
    }

    #[test]
    fn globs() {
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("billing-*", "billing-invoices"));
        assert!(!glob_matches("billing-*", "Billing-invoices"));
        assert!(glob_matches("a?c", "abc"));
        assert!(!glob_matches("a?c", "abbc"));
        assert!(glob_matches("*-daily", "x-y-daily"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "aXXbYY"));
        assert!(glob_matches("50%_off", "50%_off"));
        assert_eq!(glob_to_like("50%_off*"), "50\\%\\_off%");
        assert_eq!(glob_to_sqlite("a[b]*"), "a[[]b]*");
    }

    #[test]
    fn names() {
        assert!(channel_name("ops-slack_2.eu").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(channel_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn webhook_needs_a_secret() {
        let err = webhook(None).validate().unwrap_err().to_string();
        assert!(err.contains("secret"), "{err}");
        assert!(webhook(Some("short")).validate().is_err());
        assert!(webhook(Some("0123456789abcdef")).validate().is_ok());
    }

    #[test]
    fn urls_are_checked() {
        let slack = |url: &str| ChannelSettings::Slack { url: url.into() };
        assert!(slack("ftp://hooks.slack.com/x").validate().is_err());
        assert!(
            slack("http://mattermost.internal/hooks/x")
                .validate()
                .is_ok()
        );
        assert!(slack("not a url").validate().is_err());
        assert!(
            slack("https://hooks.slack.com/services/T/B/X")
                .validate()
                .is_ok()
        );
        let ntfy = ChannelSettings::Ntfy {
            url: "https://ntfy.sh/".into(),
            token: None,
        };
        assert!(ntfy.validate().is_err());
    }

    #[test]
    fn secrets_never_show() {
        let c = Channel::new("a", webhook(Some("0123456789abcdef")));
        let shown = c.view().to_string();
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("\"secretsSet\":[\"secret\"]"), "{shown}");
        let debug = format!("{c:?}");
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
        let slack = Channel::new(
            "s",
            ChannelSettings::Slack {
                url: "https://hooks.slack.com/services/T0/B0/SECRET".into(),
            },
        );
        let shown = slack.view().to_string();
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("https://hooks.slack.com/…"), "{shown}");
    }

    #[test]
    fn a_put_without_the_secret_keeps_it() {
        let mut new = webhook(None);
        new.inherit_secrets(&webhook(Some("0123456789abcdef")));
        assert_eq!(new, webhook(Some("0123456789abcdef")));
    }

    #[test]
    fn settings_refuse_unknown_kinds_and_fields() {
        let email: ChannelSettings = serde_json::from_str(
            r#"{"kind":"email","host":"localhost","tls":"none","from":"cronmon@example.com",
                "to":["ops@example.com"]}"#,
        )
        .unwrap();
        assert_eq!(email.kind(), ChannelKind::Email);
        email.validate().unwrap();
        let bad: std::result::Result<ChannelSettings, _> =
            serde_json::from_str(r#"{"kind":"pager","url":"https://x"}"#);
        assert!(bad.is_err());
        let typo: std::result::Result<ChannelSettings, _> =
            serde_json::from_str(r#"{"kind":"slack","url":"https://hooks.slack.com/x","uri":"a"}"#);
        assert!(typo.is_err(), "an unknown field is refused, not ignored");
    }

    #[test]
    fn addresses() {
        assert!(mailbox("to", "ops@example.com").is_ok());
        assert!(mailbox("to", "Ops Team <ops@example.com>").is_ok());
        assert!(mailbox("to", "ops").is_err());
        assert!(mailbox("to", "a b@example.com").is_err());
    }
}
