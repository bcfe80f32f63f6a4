//! Sending one message to one channel: each kind's payload is built by a pure function
//! (`webhook.rs`, `chat.rs`, `ntfy.rs`, `email.rs`), then sent by a [`Sender`] under one
//! deadline. What becomes of the attempt (retry, give up) is the notifier's to decide; this
//! module only says what happened, without a secret or a chat webhook's path in its words.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use tokio::time::Instant;

use super::{Channel, ChannelSettings, Message};

mod chat;
mod email;
mod ntfy;
mod webhook;

#[cfg(test)]
mod test_server;

pub use webhook::sign;

/// Most bytes of a receiver's answer quoted in an error.
const EXCERPT_BYTES: usize = 200;
/// Longest `Retry-After` honoured: a receiver cannot park a notification for longer.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// The receiver accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Its HTTP status (`200`, `202`, `204`…) or SMTP reply code (`250`).
    pub status: Option<i32>,
}

/// The message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// The receiver's HTTP status or SMTP reply code, if it answered.
    pub status: Option<i32>,
    /// What happened, for people: the status and the start of the answer, sanitized. Never
    /// a secret, never a URL's path.
    pub message: String,
    /// How long the receiver asked to wait (`Retry-After` of a 429 or 503), at most an hour.
    pub retry_after: Option<Duration>,
    /// Sending the same message again will fail again (a 4xx other than 408 and 429, an SMTP
    /// 5xx, settings that cannot work). The notifier may still retry it.
    pub permanent: bool,
}

impl SendError {
    fn transient(status: Option<i32>, message: impl Into<String>) -> Self {
        SendError {
            status,
            message: sanitize(&message.into()),
            retry_after: None,
            permanent: false,
        }
    }

    fn permanent(status: Option<i32>, message: impl Into<String>) -> Self {
        SendError {
            permanent: true,
            ..Self::transient(status, message)
        }
    }
}

/// One HTTP POST, built without sending it (so each payload can be checked on its own).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpPost {
    /// Where to.
    pub url: String,
    /// Headers, `Content-Type` included.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpPost {
    /// A JSON POST.
    fn json(url: &str, body: &serde_json::Value) -> Self {
        HttpPost {
            url: url.to_owned(),
            headers: vec![("Content-Type", "application/json".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }

    /// The value of a header (for tests).
    #[cfg(test)]
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends messages to channels: one HTTP client (connections reused across channels) and one
/// bound on the time an attempt takes.
#[derive(Clone, Debug)]
pub struct Sender {
    http: reqwest::Client,
    timeout: Duration,
}

impl Sender {
    /// A sender whose every attempt (connecting, TLS, the request, the answer; for email the
    /// whole SMTP conversation) ends within `timeout`. Redirects are not followed: a
    /// receiver's URL is the one configured, and a redirected POST loses its body.
    pub fn new(timeout: Duration) -> crate::Result<Sender> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cronmon/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                super::invalid(
                    "notify",
                    format!("cannot make the HTTP client: {}", error_chain(&e)),
                )
            })?;
        Ok(Sender { http, timeout })
    }

    /// The bound on one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `message` to `channel`, once. A receiver that does not answer in time is an
    /// error, like one that refuses.
    pub async fn send(&self, channel: &Channel, message: &Message) -> Result<Sent, SendError> {
        let deadline = Instant::now() + self.timeout;
        match tokio::time::timeout_at(deadline, self.dispatch(channel, message, deadline)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(SendError::transient(
                None,
                format!("no answer within {} ms", self.timeout.as_millis()),
            )),
        }
    }

    async fn dispatch(
        &self,
        channel: &Channel,
        message: &Message,
        deadline: Instant,
    ) -> Result<Sent, SendError> {
        let post = match &channel.settings {
            ChannelSettings::Webhook { url, secret } => {
                webhook::post(url, secret.as_deref(), message, Utc::now().timestamp())
            }
            ChannelSettings::Slack { url } => chat::slack(url, message),
            ChannelSettings::Discord { url } => chat::discord(url, message),
            ChannelSettings::Teams { url } => chat::teams(url, message),
            ChannelSettings::Ntfy { url, token } => ntfy::post(url, token.as_deref(), message)?,
            ChannelSettings::Email { .. } => {
                return email::send(&channel.settings, message, self.timeout).await;
            }
        };
        self.post(post, deadline).await
    }

    async fn post(&self, post: HttpPost, deadline: Instant) -> Result<Sent, SendError> {
        let mut request = self.http.post(&post.url).body(post.body);
        for (name, value) in post.headers {
            request = request.header(name, value);
        }
        let mut response = request.send().await.map_err(request_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok(Sent {
                status: Some(i32::from(status.as_u16())),
            });
        }
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, Utc::now())),
            _ => None,
        };
        // What the receiver says is read only while the attempt's time lasts, and only its
        // start: a 500 with an endless body must not hold the attempt.
        let mut body = Vec::new();
        let until = deadline.checked_sub(self.timeout / 10).unwrap_or(deadline);
        while body.len() < EXCERPT_BYTES {
            match tokio::time::timeout_at(until, response.chunk()).await {
                Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        let answer = excerpt(&body);
        let mut message = match status.canonical_reason() {
            Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
            None => format!("HTTP {}", status.as_u16()),
        };
        if status.is_redirection() {
            message.push_str(" (redirects are not followed: configure the final URL)");
        }
        if !answer.is_empty() {
            message.push_str(": ");
            message.push_str(&answer);
        }
        let code = status.as_u16();
        Err(SendError {
            retry_after,
            permanent: (400..500).contains(&code) && code != 408 && code != 429,
            ..SendError::transient(Some(i32::from(code)), message)
        })
    }
}

/// A request that got no answer: the error's words without its URL (a chat webhook's path is
/// its secret).
fn request_error(e: reqwest::Error) -> SendError {
    let builder = e.is_builder();
    let e = e.without_url();
    let message = error_chain(&e);
    if builder {
        SendError::permanent(None, message)
    } else {
        SendError::transient(None, message)
    }
}

/// An error and its sources, `: `-separated, each said once.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let words = s.to_string();
        if !out.contains(&words) {
            out.push_str(": ");
            out.push_str(&words);
        }
        source = s.source();
    }
    out
}

/// `Retry-After` in seconds (`7`, `1.5`) or as an HTTP date, bounded to an hour.
fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Duration::from_secs_f64(secs.min(RETRY_AFTER_MAX.as_secs_f64()))
    } else {
        let at = DateTime::parse_from_rfc2822(value)
            .ok()?
            .with_timezone(&Utc);
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(RETRY_AFTER_MAX))
}

/// The start of a receiver's answer, fit for a log line: at most [`EXCERPT_BYTES`] bytes,
/// control characters and runs of whitespace made one space.
fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(EXCERPT_BYTES)];
    let text = String::from_utf8_lossy(cut);
    let mut out = sanitize(&text);
    if body.len() > EXCERPT_BYTES {
        out.push('…');
    }
    out
}

/// No control characters (a receiver's answer or a server's words end up in logs and in the
/// API), whitespace runs made one space.
fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Cuts `text` to at most `max` characters, ending with `…` when cut.
pub(crate) fn cut_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::test_server::{Answer, Receiver};
    use super::*;
    use crate::notify::NotificationKind;
    use crate::notify::message::test_message;

    #[test]
    fn answers_are_sanitized_and_cut() {
        assert_eq!(
            excerpt(b"  {\"error\":\n\t\"bad\x1b[31m\"}\r\n"),
            "{\"error\": \"bad [31m\"}"
        );
        let long = vec![b'x'; 1000];
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_BYTES + 1);
        // A cut inside a UTF-8 sequence is replaced, never a panic.
        let mut mixed = vec![b'a'; EXCERPT_BYTES - 1];
        mixed.extend_from_slice("é".as_bytes());
        assert!(excerpt(&mixed).starts_with("aaa"));
    }

    #[test]
    fn retry_after_forms() {
        let now: DateTime<Utc> = "2026-12-02T07:00:00Z".parse().unwrap();
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(" 1.5 ", now), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after("999999", now), Some(RETRY_AFTER_MAX));
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 07:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 06:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-3", now), None);
    }

    #[test]
    fn cuts_count_characters() {
        assert_eq!(cut_chars("abc", 3), "abc");
        assert_eq!(cut_chars("abcd", 3), "ab…");
        assert_eq!(cut_chars("éééé", 2).chars().count(), 2);
    }

    fn webhook(url: &str) -> Channel {
        Channel::new(
            "hook",
            ChannelSettings::Webhook {
                url: url.to_owned(),
                secret: Some("0123456789abcdef".into()),
            },
        )
    }

    fn sender(ms: u64) -> Sender {
        Sender::new(Duration::from_millis(ms)).unwrap()
    }

    #[tokio::test]
    async fn a_500_is_a_transient_error_quoting_the_answer() {
        let receiver = Receiver::start(Answer::status(500).body("database\n\x07down")).await;
        let err = sender(5000)
            .send(
                &webhook(&receiver.url("/hook/SECRETPATH")),
                &test_message(NotificationKind::IncidentOpened),
            )
            .await
            .unwrap_err();
        assert_eq!(err.status, Some(500));
        assert!(!err.permanent);
        assert_eq!(err.retry_after, None);
        assert_eq!(err.message, "HTTP 500 Internal Server Error: database down");
    }

    #[tokio::test]
    async fn a_404_is_permanent_and_a_408_is_not() {
        let receiver = Receiver::start(Answer::status(404)).await;
        let err = sender(5000)
            .send(
                &webhook(&receiver.url("/")),
                &test_message(NotificationKind::Test),
            )
            .await
            .unwrap_err();
        assert_eq!((err.status, err.permanent), (Some(404), true));
        let receiver = Receiver::start(Answer::status(408)).await;
        let err = sender(5000)
            .send(
                &webhook(&receiver.url("/")),
                &test_message(NotificationKind::Test),
            )
            .await
            .unwrap_err();
        assert_eq!((err.status, err.permanent), (Some(408), false));
    }

    #[tokio::test]
    async fn a_429_says_when_to_retry() {
        let receiver = Receiver::start(
            Answer::status(429)
                .header("Retry-After", "7")
                .body("slow down"),
        )
        .await;
        let err = sender(5000)
            .send(
                &webhook(&receiver.url("/")),
                &test_message(NotificationKind::Test),
            )
            .await
            .unwrap_err();
        assert_eq!(err.status, Some(429));
        assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
        assert!(!err.permanent);
        // A 503 too; a 500's Retry-After is not read.
        let receiver = Receiver::start(Answer::status(503).header("Retry-After", "120")).await;
        let err = sender(5000)
            .send(
                &webhook(&receiver.url("/")),
                &test_message(NotificationKind::Test),
            )
            .await
            .unwrap_err();
        assert_eq!(err.retry_after, Some(Duration::from_secs(120)));
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let receiver =
            Receiver::start(Answer::status(302).header("Location", "http://127.0.0.1:9/x")).await;
        let err = sender(5000)
            .send(
                &webhook(&receiver.url("/")),
                &test_message(NotificationKind::Test),
            )
            .await
            .unwrap_err();
        assert_eq!(err.status, Some(302));
        assert!(err.message.contains("not followed"), "{}", err.message);
        assert_eq!(receiver.requests().await.len(), 1);
    }

    #[tokio::test]
    async fn a_silent_receiver_is_an_error_within_the_timeout() {
        let receiver = Receiver::start(Answer::Hang).await;
        let started = std::time::Instant::now();
        let err = sender(300)
            .send(
                &Channel::new(
                    "slack",
                    ChannelSettings::Slack {
                        url: receiver.url("/services/T0/B0/SECRET"),
                    },
                ),
                &test_message(NotificationKind::IncidentOpened),
            )
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
        assert_eq!(err.status, None);
        assert!(!err.permanent);
        assert!(!err.message.contains("SECRET"), "{}", err.message);
    }

    #[tokio::test]
    async fn a_refused_connection_does_not_show_the_url() {
        // Bind then drop: the port is free, nothing listens.
        let port = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let channel = Channel::new(
            "discord",
            ChannelSettings::Discord {
                url: format!("http://127.0.0.1:{port}/api/webhooks/1/TOKENPART"),
            },
        );
        let err = sender(2000)
            .send(&channel, &test_message(NotificationKind::Test))
            .await
            .unwrap_err();
        assert_eq!(err.status, None);
        assert!(!err.permanent);
        assert!(!err.message.contains("TOKENPART"), "{}", err.message);
        assert!(!err.message.contains("webhooks"), "{}", err.message);
        assert!(!err.message.is_empty());
    }
}
