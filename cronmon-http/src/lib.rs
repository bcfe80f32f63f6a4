//! cronmon's HTTP API as a mountable axum router.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use cronmon_http::{Api, Config};
//!
//! let store = cronmon_core::store::connect("sqlite://cronmon.db").await?;
//! let api = Api::new(store, Config::new("s3cret"));
//! let app: axum::Router = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "my app" }))
//!     .nest("/api/admin", cronmon_http::router(api));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! The endpoints (relative to the mount point): `POST /cron-executions/start`,
//! `POST /cron-executions/complete`, `GET /cron-executions/stats`,
//! `GET /cron-executions/list`, `GET /cron-schedules`, `GET /cron-executions/batches`,
//! `GET /cron-executions/{id}`, `POST /cron-executions/{id}/heartbeat`,
//! `PUT /cron-schedules/{name}`, `POST /cron-schedules/{name}/pause`,
//! `POST /cron-schedules/{name}/resume`, `GET /incidents`, `GET /incidents/{id}`,
//! `GET /incident-events`, `GET /maintenance-windows`, `PUT /maintenance-windows/{id}`,
//! `DELETE /maintenance-windows/{id}`, `GET /channels`, `GET`/`PUT`/`DELETE /channels/{name}`,
//! `POST /channels/{name}/test`, `GET /notifications`, `GET /notifications/{id}`,
//! `GET /openapi.json`, `GET /cron-executions/export.csv`
//! (CSV of the history), `GET /metrics` (Prometheus) and `GET /health`; the dashboard at
//! `GET /dashboard`. Their OpenAPI document is [`openapi::document`].
//!
//! Schedules are judged (late and missed slots, incidents) by a sweeper, which the standalone
//! [`server`] runs; an app that nests the router runs [`run_sweeper`] beside it:
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn cronmon_core::Store>) {
//! use cronmon_core::health::SweepConfig;
//! let sweep = SweepConfig::default();
//! let mut config = cronmon_http::Config::new("s3cret");
//! // So that `/health` and `/metrics` know how often the sweeper beats.
//! config.sweep_every = sweep.every;
//! tokio::spawn(cronmon_http::run_sweeper(store.clone(), sweep));
//! let app: axum::Router = axum::Router::new()
//!     .nest("/api/admin", cronmon_http::router(cronmon_http::Api::new(store, config)));
//! # }
//! ```
//!
//! What the crate offers an embedder: [`router`] over an [`Api`] with its [`Config`], the
//! errors it answers ([`ApiError`]), the sweeper's loop ([`run_sweeper`]), the standalone
//! [`server`], demo data ([`demo::fill`]), the OpenAPI document ([`openapi`]) and the
//! Prometheus text ([`render_metrics`], [`render_sweeper_metrics`]). The handlers live in
//! `routes/` (one module per resource), the shared query parameters in `params`, the field
//! checks of request bodies in `validate`.

#![warn(missing_docs)]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use cronmon_core::{Backend, Store};

mod auth;
mod channel_json;
pub mod config_file;
mod dashboard;
pub mod demo;
mod error;
mod extract;
mod ingest;
pub mod openapi;
mod params;
mod routes;
pub mod server;
#[cfg(feature = "standalone")]
pub mod standalone;
mod validate;

/// The core's notifier and sender (the server sends notifications).
pub(crate) mod notify {
    pub use cronmon_core::notify::{Notifier, NotifierConfig, Sender};
}

pub use error::ApiError;
pub use routes::meta::SweeperHealth;
pub use routes::metrics::{render as render_metrics, render_sweeper as render_sweeper_metrics};
pub use server::run_sweeper;

/// Largest request body accepted: 1 MiB (an `output` over 64 KiB is stored truncated, so
/// this is what bounds a completion).
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// Settings of the API.
#[derive(Clone)]
pub struct Config {
    /// The shared secret clients send in `X-Cron-Secret` or `Authorization: Bearer`. An empty
    /// secret lets nobody in.
    pub secret: String,
    /// Largest request body, bytes (default 1 MiB).
    pub max_body_bytes: usize,
    /// Writer tasks of the group commit (default: 2 on PostgreSQL, 1 on SQLite, which has
    /// one writer anyway). Each batches whatever waits while it writes. A request of one
    /// event goes to the first writer, so lone events are grouped together; the events of a
    /// many-event request are sharded among writers by cron name, so the writers rarely wait
    /// on each other's cron locks. A run's later events follow its start.
    pub writers: Option<usize>,
    /// Most events a writer records in one transaction (default 512).
    pub max_batch: usize,
    /// Events waiting for a writer before requests wait to enqueue (default 16384).
    pub queue: usize,
    /// How often the sweeper that judges schedules runs (default 10 s, as
    /// [`SweepConfig`](cronmon_core::health::SweepConfig)'s): `/health` and `/metrics` call it
    /// stalled when its shared heartbeat is older than three times this (and at least 30 s).
    pub sweep_every: Duration,
    /// How long `POST /channels/{name}/test` waits for a receiver (default 10 s, the
    /// notifier's [`timeout`](cronmon_core::notify::NotifierConfig::timeout)).
    pub notify_timeout: Duration,
    /// Where the dashboard is served (`https://cron.example.com/`), for the links of the
    /// messages sent by `POST /channels/{name}/test`.
    pub public_url: Option<url::Url>,
    /// How long a batch source may take to answer `GET /cron-executions/batches` (default
    /// 2 s): past it, its kind shows an error and the others answer.
    pub batch_timeout: Duration,
}

impl Config {
    /// Default settings with `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            max_body_bytes: DEFAULT_MAX_BODY,
            writers: None,
            max_batch: 512,
            queue: 16 * 1024,
            sweep_every: cronmon_core::health::SweepConfig::default().every,
            notify_timeout: notify::NotifierConfig::default().timeout,
            public_url: None,
            batch_timeout: Duration::from_secs(2),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("Config")
            .field("secret", &"<redacted>")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("writers", &self.writers)
            .field("max_batch", &self.max_batch)
            .field("queue", &self.queue)
            .field("sweep_every", &self.sweep_every)
            .field("notify_timeout", &self.notify_timeout)
            .field(
                "public_url",
                &self.public_url.as_ref().map(url::Url::as_str),
            )
            .finish()
    }
}

/// What the router serves from: the store, the group-commit writers and the settings.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Api {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    config: Config,
    /// SHA-256 of the secret, made once: each request compares its own digest to it.
    secret_digest: Option<[u8; 32]>,
    ingest: ingest::Ingest,
    health: routes::meta::HealthCache,
    /// What `POST /channels/{name}/test` sends with; none if it could not be made (logged).
    sender: Option<notify::Sender>,
    /// Batch kinds and where their figures come from, by kind.
    batch_sources: std::sync::RwLock<Vec<(String, Arc<dyn cronmon_core::batch::BatchSource>)>>,
    /// Where the dashboard's lists and figures are read from (a read replica), if not `store`.
    reads: std::sync::RwLock<Option<Arc<dyn Store>>>,
    /// When the batch sources' answers were last stored (Unix ms; 0: never).
    reports_stored_ms: std::sync::atomic::AtomicI64,
}

impl Api {
    /// Builds the API over `store`. Spawns the group-commit writer tasks, so call it inside a
    /// tokio runtime; they stop when the last clone of the `Api` (and of its router) is gone.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        let writers = config.writers.unwrap_or(match store.backend() {
            Backend::Postgres => 2,
            Backend::Sqlite => 1,
        });
        let ingest = ingest::Ingest::spawn(store.clone(), writers, config.max_batch, config.queue);
        let sender = notify::Sender::new(config.notify_timeout)
            .map_err(|e| tracing::warn!(error = %e, "cannot send test notifications"))
            .ok();
        Self {
            inner: Arc::new(Inner {
                store,
                secret_digest: auth::digest_of(&config.secret),
                config,
                ingest,
                health: Default::default(),
                sender,
                batch_sources: Default::default(),
                reads: Default::default(),
                reports_stored_ms: Default::default(),
            }),
        }
    }

    /// Reports the batch kind `kind` (the seed's `kbIndexation`, `webCrawl`) in
    /// `GET /cron-executions/batches` with the figures `source` gives. A kind registered again
    /// replaces its source.
    ///
    /// ```no_run
    /// # async fn demo(store: std::sync::Arc<dyn cronmon_core::Store>) -> cronmon_core::Result<()> {
    /// use cronmon_core::batch::SqlBatchSource;
    /// use cronmon_http::{Api, Config};
    /// let kb = SqlBatchSource::new(store.clone(), "SELECT 0 AS pending, 0 AS processing, \
    ///     0 AS completed_today, 0 AS failed_today").await?;
    /// let api = Api::new(store, Config::new("s3cret")).batch_source("kbIndexation", kb)?;
    /// # Ok(()) }
    /// ```
    pub fn batch_source(
        self,
        kind: impl Into<String>,
        source: impl cronmon_core::batch::BatchSource + 'static,
    ) -> cronmon_core::Result<Self> {
        let kind = kind.into();
        cronmon_core::batch::batch_kind(&kind)?;
        {
            let mut sources = self
                .inner
                .batch_sources
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sources.retain(|(k, _)| *k != kind);
            sources.push((kind, Arc::new(source)));
            sources.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(self)
    }

    /// Reads the dashboard's lists and figures (runs, schedules, stats, incidents,
    /// notifications, batch runs, the CSV exports, `/metrics`) from `reads`, a read replica of
    /// the store's database, so they cost the primary nothing. Writes, and the reads that must
    /// see a write just made (one run by id, what a write checks first), stay on the store.
    ///
    /// ```no_run
    /// # async fn demo(store: std::sync::Arc<dyn cronmon_core::Store>) -> cronmon_core::Result<()> {
    /// use cronmon_http::{Api, Config};
    /// let replica = cronmon_core::store::connect_read_only("postgres://cronmon@replica/cronmon").await?;
    /// let api = Api::new(store, Config::new("s3cret")).read_store(replica);
    /// # Ok(()) }
    /// ```
    pub fn read_store(self, reads: Arc<dyn Store>) -> Self {
        *self
            .inner
            .reads
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reads);
        self
    }

    /// Where lists and figures are read from: the read store, else the store.
    pub(crate) fn reader(&self) -> Arc<dyn Store> {
        self.inner
            .reads
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| self.inner.store.clone())
    }

    /// Whether the batch sources' answers are due to be stored again (at most every 10 s,
    /// however many dashboards and scrapers ask); claims the slot when they are.
    pub(crate) fn reports_due(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        use std::sync::atomic::Ordering;
        let now = now.timestamp_millis();
        let last = self.inner.reports_stored_ms.load(Ordering::Acquire);
        now.saturating_sub(last) >= 10_000
            && self
                .inner
                .reports_stored_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// The batch kinds and their sources.
    pub(crate) fn batch_sources(&self) -> Vec<(String, Arc<dyn cronmon_core::batch::BatchSource>)> {
        self.inner
            .batch_sources
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn health(&self) -> &routes::meta::HealthCache {
        &self.inner.health
    }

    pub(crate) fn sender(&self) -> Option<&notify::Sender> {
        self.inner.sender.as_ref()
    }

    pub(crate) fn ingest(&self) -> &ingest::Ingest {
        &self.inner.ingest
    }
}

/// The API as a router to nest anywhere (`Router::nest("/api/admin", router(api))`), whatever
/// the host app's state type `S`.
pub fn router<S: Clone + Send + Sync + 'static>(api: Api) -> Router<S> {
    let mut protected = Router::new();
    for route in routes::protected() {
        protected = protected.route(route.path, route.handler);
    }
    let protected = protected.route_layer(middleware::from_fn_with_state(
        api.clone(),
        auth::require_secret,
    ));
    let mut open = Router::new();
    for route in routes::open() {
        open = open.route(route.path, route.handler);
    }

    let max_body = api.config().max_body_bytes;
    Router::new()
        .merge(protected)
        // Open to all: the health probe.
        .merge(open)
        // The dashboard (HTML at `/dashboard`, assets under `/dashboard/assets/`): open to
        // all, outside the secret; the page asks for the secret and sends it to the API.
        .merge(dashboard::routes())
        .fallback(routes::meta::not_found)
        .method_not_allowed_fallback(routes::meta::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(api)
}
