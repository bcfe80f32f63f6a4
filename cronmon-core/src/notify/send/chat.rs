//! Chat services: Slack (blocks), Discord (an embed), Microsoft Teams (an Adaptive Card).
//! Job output is never trusted: it cannot ping anyone, inject markup or break out of its code
//! block, and each service's length limits are kept.

use serde_json::{Value, json};

use super::{HttpPost, cut_chars};
use crate::notify::message::rfc3339;
use crate::notify::{Message, NotificationKind};

/// Escapes `&`, `<` and `>`, the three characters Slack reads as markup (`<!channel>`,
/// `<url|text>`) in any text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A zero-width space between backticks, so text inside a code block cannot close it.
fn defuse_fences(text: &str) -> String {
    text.replace("```", "`\u{200b}`\u{200b}`")
}

fn emoji(message: &Message) -> &'static str {
    match message.kind {
        NotificationKind::Test => ":bell:",
        _ if message.is_alert() => ":rotating_light:",
        _ => ":white_check_mark:",
    }
}

/// Most characters of a Slack section's text (the service refuses more than 3000) and of a
/// field (2000).
const SLACK_TEXT_MAX: usize = 3000;
const SLACK_FIELD_MAX: usize = 2000;
/// Most fields of a Slack section.
const SLACK_FIELDS_MAX: usize = 10;

/// The Slack body: `text` (the notification's fallback) and blocks: the title, the facts as
/// fields, the error in a code block, the links.
pub(crate) fn slack_body(message: &Message) -> Value {
    let title = slack_escape(&message.title());
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": cut_chars(&format!("{} *{title}*", emoji(message)), SLACK_TEXT_MAX)},
    })];
    if let Some(lead) = message.lead() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": slack_escape(lead)},
        }));
    }
    let fields: Vec<Value> = message
        .facts()
        .into_iter()
        .take(SLACK_FIELDS_MAX)
        .map(|(label, value)| {
            json!({
                "type": "mrkdwn",
                "text": cut_chars(&format!("*{label}*\n{}", slack_escape(&value)), SLACK_FIELD_MAX),
            })
        })
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(error) = message.error() {
        let error = cut_chars(&slack_escape(&defuse_fences(error)), SLACK_TEXT_MAX - 8);
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("```{error}```")},
        }));
    }
    let links: Vec<String> = message
        .links()
        .into_iter()
        .map(|(label, url)| format!("<{}|{label}>", slack_escape(url)))
        .collect();
    if !links.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": links.join("  ·  ")},
        }));
    }
    json!({"text": title, "blocks": blocks})
}

/// The POST to a Slack incoming webhook.
pub(crate) fn slack(url: &str, message: &Message) -> HttpPost {
    HttpPost::json(url, &slack_body(message))
}

const DISCORD_TITLE_MAX: usize = 256;
const DISCORD_DESCRIPTION_MAX: usize = 4096;
const DISCORD_FIELD_NAME_MAX: usize = 256;
const DISCORD_FIELD_VALUE_MAX: usize = 1024;
const DISCORD_FIELDS_MAX: usize = 25;

const RED: u32 = 0xD1_24_2F;
const GREEN: u32 = 0x1A_7F_37;
const GREY: u32 = 0x6E_77_81;

fn color(message: &Message) -> u32 {
    match message.kind {
        NotificationKind::Test => GREY,
        _ if message.is_alert() => RED,
        _ => GREEN,
    }
}

/// The Discord body: one embed (title, the lead and the error as its description, the facts
/// as fields, a link to the run), and no mention parsed at all (`allowed_mentions`), so an
/// `@everyone` in a job's output pings nobody.
pub(crate) fn discord_body(message: &Message) -> Value {
    let mut description = String::new();
    if let Some(lead) = message.lead() {
        description.push_str(lead);
    }
    if let Some(error) = message.error() {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        // Room for the fences, so cutting never drops the closing one.
        let room = DISCORD_DESCRIPTION_MAX - description.chars().count() - 8;
        description.push_str(&format!(
            "```\n{}\n```",
            cut_chars(&defuse_fences(error), room)
        ));
    }
    let fields: Vec<Value> = message
        .facts()
        .into_iter()
        .take(DISCORD_FIELDS_MAX)
        .map(|(label, value)| {
            json!({
                "name": cut_chars(label, DISCORD_FIELD_NAME_MAX),
                "value": cut_chars(&value, DISCORD_FIELD_VALUE_MAX),
                "inline": label != "Since" && label != "Incident",
            })
        })
        .collect();
    let mut embed = json!({
        "title": cut_chars(&message.title(), DISCORD_TITLE_MAX),
        "color": color(message),
        "fields": fields,
        "timestamp": rfc3339(message.since),
        "footer": {"text": format!("cronmon · {}", message.id)},
    });
    if !description.is_empty() {
        embed["description"] = Value::from(cut_chars(&description, DISCORD_DESCRIPTION_MAX));
    }
    if let Some((_, url)) = message.links().first() {
        embed["url"] = Value::from(*url);
    }
    json!({
        "content": null,
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

/// The POST to a Discord webhook.
pub(crate) fn discord(url: &str, message: &Message) -> HttpPost {
    HttpPost::json(url, &discord_body(message))
}

/// The Teams body: a message with one Adaptive Card (1.4): the title (red for an alert, green
/// for a recovery), the facts, the error in monospace, a button per link.
pub(crate) fn teams_body(message: &Message) -> Value {
    let title_color = match message.kind {
        NotificationKind::Test => "Default",
        _ if message.is_alert() => "Attention",
        _ => "Good",
    };
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": message.title(),
        "weight": "Bolder",
        "size": "Medium",
        "color": title_color,
        "wrap": true,
    })];
    if let Some(lead) = message.lead() {
        body.push(json!({"type": "TextBlock", "text": lead, "wrap": true}));
    }
    let facts: Vec<Value> = message
        .facts()
        .into_iter()
        .map(|(label, value)| json!({"title": label, "value": value}))
        .collect();
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    if let Some(error) = message.error() {
        body.push(json!({
            "type": "TextBlock",
            "text": error,
            "fontType": "Monospace",
            "wrap": true,
            "separator": true,
        }));
    }
    let actions: Vec<Value> = message
        .links()
        .into_iter()
        .map(|(label, url)| json!({"type": "Action.OpenUrl", "title": label, "url": url}))
        .collect();
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = Value::from(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// The POST to a Teams workflow webhook (it answers 202 Accepted).
pub(crate) fn teams(url: &str, message: &Message) -> HttpPost {
    HttpPost::json(url, &teams_body(message))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::notify::message::test_message;
    use crate::notify::send::test_server::{Answer, Receiver};
    use crate::notify::send::{Sender, Sent};
    use crate::notify::{Channel, ChannelSettings};

    fn hostile() -> Message {
        let mut m = test_message(NotificationKind::IncidentOpened);
        m.cron_name = Some("<script>alert(1)</script>".into());
        m
    }

    fn all_text(v: &Value) -> String {
        v.to_string()
    }

    #[test]
    fn slack_escapes_and_fences() {
        let body = slack_body(&hostile());
        let text = all_text(&body);
        assert!(!text.contains("<script>"), "{text}");
        assert!(
            text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{text}"
        );
        assert!(!text.contains("<b>"), "{text}");
        assert!(
            text.contains("&lt;b&gt;disk&lt;/b&gt; full &amp;"),
            "{text}"
        );
        assert_eq!(
            body["text"],
            "&lt;script&gt;alert(1)&lt;/script&gt; is failing since 2026-12-02 07:00 UTC"
        );
        let blocks = body["blocks"].as_array().unwrap();
        let error = blocks
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .find(|t| t.starts_with("```"))
            .unwrap();
        assert!(error.ends_with("```"));
        // The fence inside the error is broken, so it cannot end the block early.
        assert_eq!(error.matches("```").count(), 2, "{error}");
        let fields = blocks.iter().find_map(|b| b["fields"].as_array()).unwrap();
        assert!(fields.len() <= SLACK_FIELDS_MAX);
        assert_eq!(
            fields[0]["text"],
            "*Cron*\n&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        let links = blocks.last().unwrap()["text"]["text"].as_str().unwrap();
        assert!(
            links.starts_with("<https://cron.example.com/#run="),
            "{links}"
        );
        assert!(links.contains("|View run>"), "{links}");
    }

    #[test]
    fn discord_pings_nobody_and_keeps_limits() {
        let body = discord_body(&hostile());
        assert_eq!(body["allowed_mentions"], json!({"parse": []}));
        assert_eq!(body["content"], Value::Null);
        let embed = &body["embeds"][0];
        assert_eq!(embed["color"], RED);
        assert_eq!(
            embed["url"],
            "https://cron.example.com/#run=0192f5e0-0000-7000-8000-000000000003"
        );
        assert_eq!(embed["timestamp"], "2026-12-02T07:00:00.000Z");
        let description = embed["description"].as_str().unwrap();
        assert!(
            description.starts_with("```\n@everyone <b>disk</b>"),
            "{description}"
        );
        assert_eq!(description.matches("```").count(), 2, "{description}");
        let fields = embed["fields"].as_array().unwrap();
        assert!(
            fields
                .iter()
                .any(|f| f["name"] == "Exit code" && f["value"] == "2")
        );

        let mut long = hostile();
        long.cron_name = Some("c".repeat(2000));
        if let Some(run) = long.run.as_mut() {
            run.error_message = Some("e".repeat(5000));
        }
        let body = discord_body(&long);
        let embed = &body["embeds"][0];
        assert_eq!(
            embed["title"].as_str().unwrap().chars().count(),
            DISCORD_TITLE_MAX
        );
        let description = embed["description"].as_str().unwrap();
        assert!(description.chars().count() <= DISCORD_DESCRIPTION_MAX);
        assert!(description.ends_with("\n```"));
        for f in embed["fields"].as_array().unwrap() {
            assert!(f["value"].as_str().unwrap().chars().count() <= DISCORD_FIELD_VALUE_MAX);
        }

        let resolved = discord_body(&test_message(NotificationKind::IncidentResolved));
        assert_eq!(resolved["embeds"][0]["color"], GREEN);
        let test = discord_body(&test_message(NotificationKind::Test));
        assert_eq!(test["embeds"][0]["color"], GREY);
    }

    #[test]
    fn teams_card_shape() {
        let body = teams_body(&hostile());
        assert_eq!(body["type"], "message");
        let attachment = &body["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(attachment["contentUrl"], Value::Null);
        let card = &attachment["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        assert_eq!(
            card["$schema"],
            "http://adaptivecards.io/schemas/adaptive-card.json"
        );
        let blocks = card["body"].as_array().unwrap();
        assert_eq!(blocks[0]["weight"], "Bolder");
        assert_eq!(blocks[0]["color"], "Attention");
        let facts = blocks.iter().find(|b| b["type"] == "FactSet").unwrap();
        assert_eq!(
            facts["facts"][0],
            json!({"title": "Cron", "value": "<script>alert(1)</script>"})
        );
        let error = blocks.last().unwrap();
        assert_eq!(error["fontType"], "Monospace");
        assert_eq!(error["text"], "@everyone <b>disk</b> full & ```x```");
        assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
        assert_eq!(card["actions"][0]["title"], "View run");
        let resolved = teams_body(&test_message(NotificationKind::IncidentResolved));
        assert_eq!(
            resolved["attachments"][0]["content"]["body"][0]["color"],
            "Good"
        );
        let mut no_links = test_message(NotificationKind::Test);
        no_links.dashboard_url = None;
        assert!(
            teams_body(&no_links)["attachments"][0]["content"]
                .get("actions")
                .is_none()
        );
    }

    async fn deliver(settings: ChannelSettings) -> Sent {
        Sender::new(Duration::from_secs(5))
            .unwrap()
            .send(
                &Channel::new("chat", settings),
                &test_message(NotificationKind::IncidentOpened),
            )
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn slack_discord_and_teams_receivers_get_their_bodies() {
        let m = test_message(NotificationKind::IncidentOpened);
        for (kind, status) in [("slack", 200), ("discord", 204), ("teams", 202)] {
            let receiver = Receiver::start(Answer::status(status).body("ok")).await;
            let url = receiver.url("/webhook/SECRET");
            let (settings, expected) = match kind {
                "slack" => (ChannelSettings::Slack { url }, slack_body(&m)),
                "discord" => (ChannelSettings::Discord { url }, discord_body(&m)),
                _ => (ChannelSettings::Teams { url }, teams_body(&m)),
            };
            let sent = deliver(settings).await;
            assert_eq!(sent.status, Some(i32::from(status)), "{kind}");
            let r = receiver.only().await;
            assert_eq!(r.method, "POST", "{kind}");
            assert_eq!(r.path, "/webhook/SECRET", "{kind}");
            assert_eq!(r.header("content-type"), Some("application/json"), "{kind}");
            assert_eq!(r.json(), expected, "{kind}");
        }
    }
}
