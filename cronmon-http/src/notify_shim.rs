//! TEMPORARY (branch notify-http only): the signatures of core's `Notifier` and `Sender` until
//! they land in main. Deleted before merging.
#![allow(missing_docs, dead_code, clippy::unused_async)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cronmon_core::Store;
use cronmon_core::notify::{Channel, Message};

#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub poll: Duration,
    pub batch: u32,
    pub timeout: Duration,
    pub lease: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub max_attempts: u32,
    pub public_url: Option<url::Url>,
    pub enqueue_every: Duration,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            batch: 32,
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            max_attempts: 10,
            public_url: None,
            enqueue_every: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Default)]
pub struct NotifierReport;

#[derive(Debug)]
pub struct Notifier;

impl Notifier {
    pub fn new(_store: Arc<dyn Store>, _config: NotifierConfig) -> cronmon_core::Result<Self> {
        Ok(Notifier)
    }
    pub async fn round(&self, _now: DateTime<Utc>) -> cronmon_core::Result<NotifierReport> {
        Ok(NotifierReport)
    }
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        shutdown.await
    }
}

#[derive(Debug, Clone)]
pub struct Sender;

#[derive(Debug, Clone)]
pub struct Sent {
    pub status: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct SendError {
    pub status: Option<i32>,
    pub message: String,
    pub retry_after: Option<Duration>,
    pub permanent: bool,
}

impl Sender {
    pub fn new(_timeout: Duration) -> cronmon_core::Result<Sender> {
        Ok(Sender)
    }
    pub async fn send(&self, _c: &Channel, _m: &Message) -> Result<Sent, SendError> {
        Err(SendError {
            status: None,
            message: "sender not yet merged".into(),
            retry_after: None,
            permanent: true,
        })
    }
}
