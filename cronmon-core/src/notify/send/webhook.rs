//! The generic webhook: the versioned JSON body ([`Message::webhook_body`]), signed.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::HttpPost;
use crate::notify::Message;

/// The `X-Cronmon-Signature` of a webhook body: `sha256=` and the lowercase hex of
/// HMAC-SHA256 keyed with the channel's secret over `<timestamp>.<body>`, where `timestamp`
/// is the `X-Cronmon-Timestamp` header (Unix seconds) and `body` the raw request body.
///
/// A receiver recomputes it from the raw body (before parsing it), compares in constant time,
/// and refuses a timestamp far from its clock (say 5 minutes) so a captured request cannot be
/// replayed later.
///
/// ```
/// let signature = cronmon_core::notify::sign(b"0123456789abcdef", 1764658800, b"{}");
/// assert!(signature.starts_with("sha256="));
/// assert_eq!(signature.len(), 7 + 64);
/// ```
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut signed = timestamp.to_string().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    format!("sha256={}", hmac_sha256_hex(secret, &signed))
}

fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(data);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The POST of `message` to a webhook at `url`, signed with `secret` at `timestamp` (Unix
/// seconds). Without a secret (a channel stored before one was required) it goes unsigned.
pub(crate) fn post(url: &str, secret: Option<&str>, message: &Message, timestamp: i64) -> HttpPost {
    let mut post = HttpPost::json(url, &message.webhook_body());
    let id = message.id.to_string();
    post.headers.extend([
        ("X-Cronmon-Timestamp", timestamp.to_string()),
        ("Idempotency-Key", id.clone()),
        ("X-Cronmon-Notification", id),
        ("X-Cronmon-Kind", message.kind.as_str().to_owned()),
    ]);
    if let Some(secret) = secret {
        post.headers.push((
            "X-Cronmon-Signature",
            sign(secret.as_bytes(), timestamp, &post.body),
        ));
    }
    post
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::notify::message::test_message;
    use crate::notify::send::test_server::{Answer, Receiver};
    use crate::notify::send::{Sender, Sent};
    use crate::notify::{Channel, ChannelSettings, NotificationKind, WEBHOOK_SCHEMA};

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231, test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signature_covers_timestamp_and_body() {
        let s = sign(b"0123456789abcdef", 1764658800, b"{\"a\":1}");
        assert_eq!(
            s,
            format!(
                "sha256={}",
                hmac_sha256_hex(b"0123456789abcdef", b"1764658800.{\"a\":1}")
            )
        );
        assert_ne!(s, sign(b"0123456789abcdef", 1764658801, b"{\"a\":1}"));
        assert_ne!(s, sign(b"0123456789abcdef", 1764658800, b"{\"a\":2}"));
        assert_ne!(s, sign(b"0123456789abcdeF", 1764658800, b"{\"a\":1}"));
    }

    #[test]
    fn headers_and_body() {
        let m = test_message(NotificationKind::IncidentOpened);
        let p = post(
            "https://example.com/hook",
            Some("0123456789abcdef"),
            &m,
            1764658800,
        );
        assert_eq!(p.header("content-type"), Some("application/json"));
        assert_eq!(p.header("X-Cronmon-Timestamp"), Some("1764658800"));
        assert_eq!(p.header("Idempotency-Key"), Some(m.id.to_string().as_str()));
        assert_eq!(
            p.header("X-Cronmon-Notification"),
            Some(m.id.to_string().as_str())
        );
        assert_eq!(p.header("X-Cronmon-Kind"), Some("incident_opened"));
        assert_eq!(
            p.header("X-Cronmon-Signature"),
            Some(sign(b"0123456789abcdef", 1764658800, &p.body).as_str())
        );
        let body: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(body, m.webhook_body());
        assert_eq!(body["schema"], WEBHOOK_SCHEMA);
        assert!(
            post("https://example.com/hook", None, &m, 1)
                .header("X-Cronmon-Signature")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_receiver_gets_a_signed_post() {
        let receiver = Receiver::start(Answer::status(204)).await;
        let channel = Channel::new(
            "hook",
            ChannelSettings::Webhook {
                url: receiver.url("/hooks/cronmon?x=1"),
                secret: Some("0123456789abcdef".into()),
            },
        );
        let m = test_message(NotificationKind::IncidentOpened);
        let sent = Sender::new(Duration::from_secs(5))
            .unwrap()
            .send(&channel, &m)
            .await
            .unwrap();
        assert_eq!(sent, Sent { status: Some(204) });
        let r = receiver.only().await;
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hooks/cronmon?x=1");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("idempotency-key"), Some(m.id.to_string().as_str()));
        assert_eq!(
            r.header("x-cronmon-notification"),
            Some(m.id.to_string().as_str())
        );
        assert_eq!(r.header("x-cronmon-kind"), Some("incident_opened"));
        assert!(
            r.header("user-agent")
                .is_some_and(|ua| ua.starts_with("cronmon/")),
            "{:?}",
            r.header("user-agent")
        );
        // The receiver's check: recompute over the raw body with the timestamp it was sent.
        let ts: i64 = r.header("x-cronmon-timestamp").unwrap().parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
        assert_eq!(
            r.header("x-cronmon-signature"),
            Some(sign(b"0123456789abcdef", ts, &r.body).as_str())
        );
        let body = r.json();
        assert_eq!(body["schema"], "cronmon.notification.v1");
        assert_eq!(body["id"], m.id.to_string());
        assert_eq!(body["cron"], "backup");
    }
}
