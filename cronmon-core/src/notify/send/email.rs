//! Email over SMTP (lettre): one `multipart/alternative` message, plain text and HTML, whose
//! `Message-ID` is the notification's id, so a retry that was in fact delivered shows once in
//! mail clients that deduplicate.

use std::time::{Duration, SystemTime};

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{SendError, Sent, error_chain};
use crate::notify::{ChannelSettings, Message, SmtpTls};

/// The email of `message`, from `from` to every address of `to`: Subject
/// `[cronmon] <title>`, `Message-ID: <id@cronmon>`, `Date` when the notification was written,
/// a plain-text part ([`Message::text`]) and an HTML part ([`Message::html`]).
pub(crate) fn email(
    from: &str,
    to: &[String],
    message: &Message,
) -> Result<lettre::Message, SendError> {
    let mailbox = |address: &str| {
        address.parse::<Mailbox>().map_err(|e| {
            SendError::permanent(None, format!("`{address}` is not an email address: {e}"))
        })
    };
    let mut builder = lettre::Message::builder()
        .from(mailbox(from)?)
        .subject(format!("[cronmon] {}", message.title()))
        .message_id(Some(format!("<{}@cronmon>", message.id)))
        .date(SystemTime::from(message.created_at));
    for address in to {
        builder = builder.to(mailbox(address)?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            message.text(),
            message.html(),
        ))
        .map_err(|e| SendError::permanent(None, format!("cannot build the email: {e}")))
}

/// Sends `message` to an email channel: STARTTLS (required, port 587), TLS from the first
/// byte (465) or none (25), with the channel's credentials when set; each step of the SMTP
/// conversation bounded by `timeout`. The server's reply code is the status: 5xx is
/// permanent, 4xx transient.
pub(crate) async fn send(
    settings: &ChannelSettings,
    message: &Message,
    timeout: Duration,
) -> Result<Sent, SendError> {
    let ChannelSettings::Email {
        host,
        port,
        tls,
        username,
        password,
        from,
        to,
    } = settings
    else {
        return Err(SendError::permanent(None, "not an email channel"));
    };
    let email = email(from, to, message)?;
    let (builder, default_port) = match tls {
        SmtpTls::Starttls => (
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(smtp_error)?,
            lettre::transport::smtp::SUBMISSION_PORT,
        ),
        SmtpTls::Tls => (
            AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(smtp_error)?,
            lettre::transport::smtp::SUBMISSIONS_PORT,
        ),
        SmtpTls::None => (
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            lettre::transport::smtp::SMTP_PORT,
        ),
    };
    let mut builder = builder
        .port(port.unwrap_or(default_port))
        .timeout(Some(timeout));
    if let (Some(user), Some(password)) = (username, password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let response = builder.build().send(email).await.map_err(smtp_error)?;
    Ok(Sent {
        status: Some(i32::from(u16::from(response.code()))),
    })
}

fn smtp_error(e: lettre::transport::smtp::Error) -> SendError {
    let status = e.status().map(|code| i32::from(u16::from(code)));
    let message = format!("SMTP: {}", error_chain(&e));
    if e.is_permanent() {
        SendError::permanent(status, message)
    } else {
        SendError::transient(status, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::NotificationKind;
    use crate::notify::message::test_message;

    fn formatted(m: &Message) -> String {
        let e = email(
            "cronmon <cronmon@example.com>",
            &[
                "ops@example.com".to_owned(),
                "Dev Team <dev@example.com>".to_owned(),
            ],
            m,
        )
        .unwrap();
        String::from_utf8(e.formatted()).unwrap()
    }

    /// The parts as a reader sees them: lettre picks quoted-printable for long lines.
    fn decoded(mail: &str) -> String {
        let joined = mail.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'=', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn headers_and_both_parts() {
        let m = test_message(NotificationKind::IncidentOpened);
        let raw = formatted(&m);
        let mail = decoded(&raw);
        assert!(
            raw.contains("Subject: [cronmon] backup is failing since 2026-12-02 07:00 UTC\r\n"),
            "{mail}"
        );
        assert!(
            raw.contains("Message-ID: <0192f5e0-0000-7000-8000-000000000001@cronmon>\r\n"),
            "{mail}"
        );
        assert!(
            raw.contains("From: cronmon <cronmon@example.com>\r\n"),
            "{mail}"
        );
        assert!(
            raw.contains("To: ops@example.com, \"Dev Team\" <dev@example.com>\r\n")
                || raw.contains("To: ops@example.com, Dev Team <dev@example.com>\r\n"),
            "{mail}"
        );
        assert!(
            raw.contains("Date: Wed, 02 Dec 2026 07:05:00 +0000\r\n"),
            "{mail}"
        );
        assert!(
            raw.contains("Content-Type: multipart/alternative;"),
            "{mail}"
        );
        let (before, html) = mail.split_once("Content-Type: text/html").unwrap();
        assert!(before.contains("Content-Type: text/plain"), "{mail}");
        assert!(before.contains("Cron: backup\r\n"), "{mail}");
        assert!(before.contains("Exit code: 2\r\n"), "{mail}");
        assert!(html.contains("<td>backup</td>"), "{mail}");
        // The same id on a retry: mail clients see one message.
        assert_eq!(
            formatted(&m).lines().find(|l| l.starts_with("Message-ID")),
            raw.lines().find(|l| l.starts_with("Message-ID"))
        );
    }

    #[test]
    fn html_escapes_job_strings() {
        let mut m = test_message(NotificationKind::IncidentOpened);
        m.cron_name = Some("<script>alert(1)</script>".into());
        let mail = decoded(&formatted(&m));
        let (plain, html) = mail.split_once("Content-Type: text/html").unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>disk"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("@everyone &lt;b&gt;disk&lt;/b&gt; full &amp; ```x```"),
            "{html}"
        );
        // Plain text shows the strings as they are.
        assert!(plain.contains("Cron: <script>alert(1)</script>"), "{plain}");
    }

    #[test]
    fn bad_addresses_are_permanent() {
        let m = test_message(NotificationKind::Test);
        let err = email("not an address", &["ops@example.com".to_owned()], &m).unwrap_err();
        assert!(err.permanent);
        assert!(err.message.contains("not an address"), "{}", err.message);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_transient() {
        let port = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let settings = ChannelSettings::Email {
            host: "127.0.0.1".into(),
            port: Some(port),
            tls: SmtpTls::None,
            username: Some("user".into()),
            password: Some("hunter2-password".into()),
            from: "cronmon@example.com".into(),
            to: vec!["ops@example.com".into()],
        };
        let err = send(
            &settings,
            &test_message(NotificationKind::Test),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(!err.permanent, "{err:?}");
        assert_eq!(err.status, None);
        assert!(err.message.starts_with("SMTP: "), "{}", err.message);
        assert!(!err.message.contains("hunter2"), "{}", err.message);
    }
}
