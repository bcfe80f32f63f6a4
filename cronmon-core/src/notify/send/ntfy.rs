//! ntfy: always JSON publishing (a POST to the server's root naming the topic), never the
//! header form. Headers carry only ASCII, and a title is a cron name a user chose: JSON takes
//! any text as it is, with one code path for every message.

use serde_json::{Value, json};

use super::{HttpPost, SendError};
use crate::notify::{Message, NotificationKind};

/// Most bytes of a message: ntfy turns a longer one into an attachment (4096 by default).
const NTFY_MESSAGE_MAX_BYTES: usize = 4000;

/// ntfy's priority (1 min to 5 max) of a kind: openings, stuck runs, missed slots and an
/// outage summary are high (4), single failures, anomalies and reminders default (3),
/// resolutions and tests low (2).
pub(crate) fn priority(kind: NotificationKind) -> u8 {
    match kind {
        NotificationKind::IncidentOpened
        | NotificationKind::Stuck
        | NotificationKind::Missed
        | NotificationKind::OutageSummary => 4,
        NotificationKind::FailedRun
        | NotificationKind::Anomaly
        | NotificationKind::IncidentReminder => 3,
        NotificationKind::IncidentResolved | NotificationKind::Test => 2,
    }
}

/// The server's root and the topic of a topic URL: `https://ntfy.sh/alerts` is
/// (`https://ntfy.sh/`, `alerts`); a server under a path keeps it
/// (`https://example.com/ntfy/alerts` → `https://example.com/ntfy/`). Topic names are
/// `[-_A-Za-z0-9]`, so the segment is taken as it is.
fn root_and_topic(url: &str) -> Result<(String, String), SendError> {
    let bad = || SendError::permanent(None, "the ntfy URL does not name a topic");
    let mut root = url::Url::parse(url).map_err(|_| bad())?;
    let topic = root
        .path_segments()
        .and_then(|mut s| s.rfind(|s| !s.is_empty()))
        .map(str::to_owned)
        .ok_or_else(bad)?;
    {
        let mut segments = root.path_segments_mut().map_err(|()| bad())?;
        segments.pop_if_empty().pop().push("");
    }
    root.set_query(None);
    root.set_fragment(None);
    Ok((root.to_string(), topic))
}

/// The JSON ntfy publishes: topic, title, message (the plain text, cut to
/// [`NTFY_MESSAGE_MAX_BYTES`]), priority, tags (an emoji and the kind), and the run's (or
/// the dashboard's) link as `click`.
pub(crate) fn body(topic: &str, message: &Message) -> Value {
    let emoji = match message.kind {
        NotificationKind::Test => "bell",
        _ if message.is_alert() => "rotating_light",
        _ => "white_check_mark",
    };
    let mut text = message.text();
    if text.len() > NTFY_MESSAGE_MAX_BYTES {
        let mut cut = NTFY_MESSAGE_MAX_BYTES - '…'.len_utf8();
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    let mut body = json!({
        "topic": topic,
        "title": message.title(),
        "message": text.trim_end(),
        "priority": priority(message.kind),
        "tags": [emoji, message.kind.as_str()],
    });
    if let Some((_, url)) = message.links().first() {
        body["click"] = Value::from(*url);
    }
    body
}

/// The POST to an ntfy server for a topic URL, with the token of a protected topic.
pub(crate) fn post(
    url: &str,
    token: Option<&str>,
    message: &Message,
) -> Result<HttpPost, SendError> {
    let (root, topic) = root_and_topic(url)?;
    let mut post = HttpPost::json(&root, &body(&topic, message));
    if let Some(token) = token {
        post.headers
            .push(("Authorization", format!("Bearer {token}")));
    }
    Ok(post)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::notify::message::test_message;
    use crate::notify::send::Sender;
    use crate::notify::send::test_server::{Answer, Receiver};
    use crate::notify::{Channel, ChannelSettings};

    #[test]
    fn roots_and_topics() {
        let rt = |u: &str| root_and_topic(u).map_err(|e| e.message);
        assert_eq!(
            rt("https://ntfy.sh/alerts"),
            Ok(("https://ntfy.sh/".into(), "alerts".into()))
        );
        assert_eq!(
            rt("https://ntfy.sh/alerts/"),
            Ok(("https://ntfy.sh/".into(), "alerts".into()))
        );
        assert_eq!(
            rt("https://example.com/ntfy/ops-1?x=1"),
            Ok(("https://example.com/ntfy/".into(), "ops-1".into()))
        );
        assert!(rt("https://ntfy.sh/").is_err());
        assert!(rt("mailto:x@y").is_err());
    }

    #[test]
    fn priorities_tags_and_click() {
        assert_eq!(priority(NotificationKind::IncidentOpened), 4);
        assert_eq!(priority(NotificationKind::OutageSummary), 4);
        assert_eq!(priority(NotificationKind::FailedRun), 3);
        assert_eq!(priority(NotificationKind::IncidentResolved), 2);
        let m = test_message(NotificationKind::IncidentOpened);
        let b = body("alerts", &m);
        assert_eq!(b["tags"], json!(["rotating_light", "incident_opened"]));
        assert_eq!(b["click"], m.run.as_ref().unwrap().url.as_deref().unwrap());
        assert_eq!(b["title"], m.title());
        let b = body("alerts", &test_message(NotificationKind::IncidentResolved));
        assert_eq!(b["tags"][0], "white_check_mark");
        assert_eq!(b["priority"], 2);

        let mut long = m.clone();
        if let Some(run) = long.run.as_mut() {
            run.error_message = Some("é".repeat(5000));
        }
        let text = body("alerts", &long)["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(text.len() <= NTFY_MESSAGE_MAX_BYTES, "{}", text.len());
        assert!(text.ends_with('…'));
    }

    #[tokio::test]
    async fn a_receiver_gets_json_publishing() {
        let receiver = Receiver::start(Answer::status(200).body("{\"id\":\"x\"}")).await;
        let mut m = test_message(NotificationKind::Stuck);
        m.cron_name = Some("sauvegarde-été".into());
        let channel = Channel::new(
            "phone",
            ChannelSettings::Ntfy {
                url: receiver.url("/ntfy/cron-alerts"),
                token: Some("tk_secret".into()),
            },
        );
        let sent = Sender::new(Duration::from_secs(5))
            .unwrap()
            .send(&channel, &m)
            .await
            .unwrap();
        assert_eq!(sent.status, Some(200));
        let r = receiver.only().await;
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/ntfy/");
        assert_eq!(r.header("authorization"), Some("Bearer tk_secret"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let b = r.json();
        assert_eq!(b["topic"], "cron-alerts");
        assert_eq!(b["priority"], 4);
        assert_eq!(b["title"], m.title());
        assert!(b["title"].as_str().unwrap().contains("sauvegarde-été"));
        let text = b["message"].as_str().unwrap();
        assert!(text.contains("Cron: sauvegarde-été"), "{text}");
        assert!(text.contains("@everyone <b>disk</b>"), "{text}");
    }
}
