//! A channel's flat JSON (`{"kind": "webhook", "url": …, "on": […], …}`) read in two parts:
//! the fields every kind shares ([`Common`]), then the settings of its kind
//! ([`ChannelSettings`]). Each part refuses the fields it does not know, which the core's
//! `Channel` cannot do by itself: serde hands the flattened, internally tagged settings `kind`
//! as one more field, which their `deny_unknown_fields` refuses.

use chrono::{DateTime, Utc};
use cronmon_core::notify::{Channel, ChannelSettings, NotifyOn};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The fields every kind shares (the name is the caller's: a path, a table key).
const COMMON: &[&str] = &["on", "crons", "repeatEveryMs", "mutedUntil"];

/// The shared fields of a channel, as the API names them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Common {
    #[serde(default = "NotifyOn::defaults")]
    on: Vec<NotifyOn>,
    #[serde(default)]
    crons: Vec<String>,
    #[serde(default)]
    repeat_every_ms: Option<i64>,
    #[serde(default)]
    muted_until: Option<DateTime<Utc>>,
}

impl Common {
    /// The channel `name` with these filters and `settings` (source `api`; health none yet).
    pub(crate) fn into_channel(self, name: &str, settings: ChannelSettings) -> Channel {
        let mut channel = Channel::new(name, settings);
        channel.on = self.on;
        channel.crons = self.crons;
        channel.repeat_every_ms = self.repeat_every_ms;
        channel.muted_until = self.muted_until;
        channel
    }
}

/// `fields` (without `name`) split into the shared ones and the kind's settings, `kind`
/// included.
pub(crate) fn split(fields: Map<String, Value>) -> (Value, Value) {
    let (common, settings): (Map<String, Value>, Map<String, Value>) = fields
        .into_iter()
        .partition(|(k, _)| COMMON.contains(&k.as_str()));
    (Value::Object(common), Value::Object(settings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cronmon_core::notify::ChannelKind;

    fn read(json: &str) -> Result<Channel, serde_json::Error> {
        let Ok(Value::Object(map)) = serde_json::from_str(json) else {
            panic!("not an object: {json}");
        };
        let (common, settings) = split(map);
        let common: Common = serde_json::from_value(common)?;
        let settings: ChannelSettings = serde_json::from_value(settings)?;
        Ok(common.into_channel("x", settings))
    }

    #[test]
    fn reads_flat_json_and_refuses_unknown_fields() {
        let c = read(
            r#"{"kind":"email","host":"localhost","tls":"none","from":"cronmon@example.com",
                "to":["ops@example.com"],"on":["opened","stuck"],"repeatEveryMs":3600000}"#,
        )
        .unwrap();
        assert_eq!(c.settings.kind(), ChannelKind::Email);
        assert_eq!(c.on, vec![NotifyOn::Opened, NotifyOn::Stuck]);
        assert_eq!(c.repeat_every_ms, Some(3_600_000));
        c.validate(Utc::now()).unwrap();
        let defaults = read(r#"{"kind":"ntfy","url":"https://ntfy.sh/t"}"#).unwrap();
        assert_eq!(defaults.on, NotifyOn::defaults());
        let err = read(r#"{"kind":"ntfy","url":"https://ntfy.sh/t","host":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("host"), "{err}");
        assert!(read(r#"{"kind":"pager","url":"https://x"}"#).is_err());
        assert!(read(r#"{"kind":"ntfy","url":"https://ntfy.sh/t","on":["nope"]}"#).is_err());
    }
}
