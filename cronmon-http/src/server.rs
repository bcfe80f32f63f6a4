//! The standalone server: the API mounted at `/api/admin`, `/` leading to
//! the dashboard, the background sweeps (schedule health, stuck runs and orphans, retention),
//! the notifier (the channels of its config file written to the database at start), and a
//! graceful shutdown. `examples/server.rs` is a thin command line over [`Server`]; tests
//! start it in-process. [`run_sweeper`] is the schedule-health loop alone, for an app that
//! nests the router itself.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::{Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use cronmon_core::Store;
use cronmon_core::health::{SweepConfig, Sweeper};
use cronmon_core::notify::Channel;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::notify::{Notifier, NotifierConfig};
use crate::{Api, Config};

/// Where the server mounts the API (the path existing clients and the bash client call).
pub const MOUNT: &str = "/api/admin";

/// Default of [`ServerConfig::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest a shutdown waits for in-flight requests before the server stops anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How long a running batch run may go without a report before the server closes it as failed.
pub const DEFAULT_BATCH_STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// Errors that stop the server from starting or running.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Settings of the standalone server.
#[derive(Clone)]
pub struct ServerConfig {
    /// `sqlite://…` (default `sqlite://cronmon.db`) or `postgres://…`.
    pub database_url: String,
    /// A read replica of the PostgreSQL database (`postgres://…`) for the dashboard's lists
    /// and figures ([`Api::read_store`]); none by default.
    pub read_database_url: Option<String>,
    /// Address to listen on (default `127.0.0.1:8080`; port 0 picks a free one).
    pub bind: String,
    /// The API secret; a random one is made (and reported by [`Server::generated_secret`])
    /// when `None`.
    pub secret: Option<String>,
    /// Finished runs older than this are deleted (default 7 days).
    pub retention: Duration,
    /// How often retention runs (default hourly).
    pub cleanup_every: Duration,
    /// How often schedules are judged (late and missed slots, incidents), stuck runs looked
    /// for and orphans closed (default every 10 s).
    pub sweep_every: Duration,
    /// After cronmon's own downtime, how long slots due while it was down wait before they are
    /// judged, so runs spooled meanwhile arrive first (default 5 min; see
    /// [`SweepConfig::settle`]).
    pub settle: Duration,
    /// A stuck run that started longer ago than this is closed as `failed`/`timed_out`
    /// (default 24 h).
    pub orphan_after: Duration,
    /// A batch run still running with no report (start, progress) for this long is closed as
    /// `failed`, "no report for …": its process died without a word (default 6 h).
    pub batch_stale_after: Duration,
    /// Fill an empty database with six demo crons and a week of history ([`crate::demo::fill`]).
    pub demo: bool,
    /// Group-commit writer tasks (see [`Config::writers`]).
    pub writers: Option<usize>,
    /// A client must send a request's whole head (request line and headers) within this time,
    /// or its connection is closed (408 if it sent part of one): a slow client cannot hold a
    /// connection open by trickling bytes. It also closes keep-alive connections idle this
    /// long. Default 30 s.
    pub header_read_timeout: Duration,
    /// The channels of the config file ([`crate::config_file`]): at start they replace the
    /// config-defined channels in the database (those no longer listed are deleted), and the
    /// API refuses to change them. Default: none.
    pub channels: Vec<Channel>,
    /// Batch kinds and their SQL queries (`[[batch_source]]` of the config file), each checked
    /// against the database at start: one that fails stops the server. Default: none.
    pub batch_sources: Vec<(String, String)>,
    /// The notifier: how often it looks for due notifications, its timeout and retries, the
    /// public URL its messages link to.
    pub notifier: NotifierConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://cronmon.db".into(),
            read_database_url: None,
            bind: "127.0.0.1:8080".into(),
            secret: None,
            retention: cronmon_core::store::DEFAULT_RETENTION,
            cleanup_every: Duration::from_secs(3600),
            sweep_every: Duration::from_secs(10),
            settle: Duration::from_secs(300),
            orphan_after: Duration::from_secs(24 * 3600),
            batch_stale_after: DEFAULT_BATCH_STALE_AFTER,
            demo: false,
            writers: None,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            channels: Vec::new(),
            batch_sources: Vec::new(),
            notifier: NotifierConfig::default(),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field(
                "database_url",
                &cronmon_core::store::redact(&self.database_url),
            )
            .field(
                "read_database_url",
                &self
                    .read_database_url
                    .as_deref()
                    .map(cronmon_core::store::redact),
            )
            .field("bind", &self.bind)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("retention", &self.retention)
            .field("cleanup_every", &self.cleanup_every)
            .field("sweep_every", &self.sweep_every)
            .field("settle", &self.settle)
            .field("orphan_after", &self.orphan_after)
            .field("batch_stale_after", &self.batch_stale_after)
            .field("demo", &self.demo)
            .field("writers", &self.writers)
            .field("header_read_timeout", &self.header_read_timeout)
            .field(
                "channels",
                &self.channels.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .field("notifier", &self.notifier)
            .finish()
    }
}

/// A server bound to its address, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    store: Arc<dyn Store>,
    api: Api,
    notifier: Notifier,
    config: ServerConfig,
    generated_secret: Option<String>,
}

/// A fresh random secret: 256 bits as hex.
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Server {
    /// Opens (and migrates) the database, writes the config file's channels to it, fills it
    /// with demo data if asked, and binds the address.
    pub async fn bind(config: ServerConfig) -> Result<Self, BoxError> {
        let store = cronmon_core::store::connect(&config.database_url).await?;
        let notifier = Notifier::new(store.clone(), config.notifier.clone())?;
        store
            .replace_config_channels(&config.channels, Utc::now())
            .await
            .map_err(|e| format!("the config file's channels: {e}"))?;
        if !config.channels.is_empty() {
            tracing::info!(
                channels = config.channels.len(),
                "notification channels of the config file written"
            );
        }
        let (secret, generated_secret) = match config.secret.clone().filter(|s| !s.is_empty()) {
            Some(s) => (s, None),
            None => {
                let s = random_secret();
                (s.clone(), Some(s))
            }
        };
        if config.demo {
            match crate::demo::fill(store.as_ref()).await? {
                0 => tracing::info!("--demo: the database already holds runs; left as is"),
                n => tracing::info!(
                    runs = n,
                    "--demo: filled the database with a week of history"
                ),
            }
        }
        let listener = TcpListener::bind(&config.bind).await?;
        let mut api_config = Config::new(secret);
        api_config.writers = config.writers;
        api_config.sweep_every = config.sweep_every;
        api_config.notify_timeout = config.notifier.timeout;
        api_config.public_url = config.notifier.public_url.clone();
        let mut api = Api::new(store.clone(), api_config);
        if let Some(url) = config.read_database_url.as_deref() {
            let reads = cronmon_core::store::connect_read_only(url)
                .await
                .map_err(|e| format!("the read database: {e}"))?;
            tracing::info!(
                database = %cronmon_core::store::redact(url),
                "lists and figures read from the read database"
            );
            api = api.read_store(reads);
        }
        for (kind, sql) in &config.batch_sources {
            let source = cronmon_core::batch::SqlBatchSource::new(store.clone(), sql.as_str())
                .await
                .map_err(|e| format!("batch_source \"{kind}\": {e}"))?;
            api = api.batch_source(kind.as_str(), source)?;
        }
        Ok(Self {
            listener,
            store,
            api,
            notifier,
            config,
            generated_secret,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The secret made at start when none was configured (print it once).
    pub fn generated_secret(&self) -> Option<&str> {
        self.generated_secret.as_deref()
    }

    /// The secret clients must send.
    pub fn secret(&self) -> &str {
        &self.api.config().secret
    }

    /// The whole app: the API at [`MOUNT`], `/` redirecting to the dashboard.
    pub fn app(api: Api) -> Router {
        Router::new()
            .route(
                "/",
                get(|| async { Redirect::temporary(&format!("{MOUNT}/dashboard")) }),
            )
            .nest(MOUNT, crate::router(api))
            .fallback(crate::routes::meta::not_found)
            .layer(
                // One log line per request: method, path, status, time (warning for a 5xx,
                // debug otherwise). Never the headers (the secret) nor the query.
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request| {
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path()
                        )
                    })
                    .on_request(())
                    .on_response(|response: &Response, latency: Duration, _: &Span| {
                        let status = response.status().as_u16();
                        let ms = latency.as_secs_f64() * 1000.0;
                        if status >= 500 {
                            tracing::warn!(status, ms, "request");
                        } else {
                            tracing::debug!(status, ms, "request");
                        }
                    })
                    // The 5xx is logged by `on_response` above, once.
                    .on_failure(()),
            )
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish, stops the
    /// sweeps and the notifier and closes the database.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), BoxError> {
        let addr = self.local_addr()?;
        tracing::info!(
            %addr,
            database = %cronmon_core::store::redact(&self.config.database_url),
            "cronmon listening: API at http://{addr}{MOUNT}, dashboard at http://{addr}{MOUNT}/dashboard"
        );
        let sweeps = tokio::spawn(sweeps(self.store.clone(), self.config.clone()));
        let (stop_notifier, notifier_stopped) = tokio::sync::oneshot::channel::<()>();
        let notifier = tokio::spawn(self.notifier.run(async move {
            let _ = notifier_stopped.await;
        }));
        let app = Self::app(self.api);
        let served = serve_http1(
            self.listener,
            app,
            self.config.header_read_timeout,
            shutdown,
        )
        .await;
        sweeps.abort();
        let _ = sweeps.await;
        // The notifier finishes the attempts in flight (each bounded by its timeout), so
        // their outcome is recorded rather than left to the lease.
        let _ = stop_notifier.send(());
        let bound = self
            .config
            .notifier
            .timeout
            .saturating_add(Duration::from_secs(5));
        let mut notifier = notifier;
        if tokio::time::timeout(bound, &mut notifier).await.is_err() {
            tracing::warn!("shutdown: the notifier did not stop in time; stopping it");
            notifier.abort();
            let _ = notifier.await;
        }
        self.store.close().await;
        tracing::info!("cronmon stopped");
        served.map_err(Into::into)
    }
}

/// Serves HTTP/1.1 connections until `shutdown` completes, then stops accepting, lets each
/// connection finish its request in flight (for [`SHUTDOWN_GRACE`] at most) and returns.
/// `axum::serve` does the same but reads request heads without a time limit.
async fn serve_http1(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    // Dropping `stop` tells every connection to finish; each holds a clone of `open`, and
    // `open_tx.closed()` completes once the last one is done.
    let (stop, stopped) = tokio::sync::watch::channel(());
    let (open_tx, open) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a little rather than spin, and keep serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut stopped = stopped.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "connection ended");
                    }
                }
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(open);
        });
    }
    drop(listener);
    drop(stop);
    drop(open);
    if tokio::time::timeout(SHUTDOWN_GRACE, open_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: requests still in flight after the grace period; stopping");
    }
    Ok(())
}

/// Binds and serves until `shutdown` completes.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    let server = Server::bind(config).await?;
    if let Some(secret) = server.generated_secret() {
        println!("CRON_SECRET was not set; generated for this run: {secret}");
    }
    server.run(shutdown).await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// What one round of sweeps did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Runs stuck now.
    pub stuck: usize,
    /// Orphans this process closed (each orphan is closed by exactly one process).
    pub orphans_closed: u64,
}

/// Looks for stuck runs and closes orphans, once. Safe from any number of processes sharing
/// one database: closing is a conditional update of the row (`status = 'running'`), so each
/// orphan is closed by exactly one of them.
pub async fn sweep_once(
    store: &dyn Store,
    orphan_after: Duration,
) -> cronmon_core::Result<SweepReport> {
    let stuck = store.stuck_runs().await?;
    let orphans_closed = store.fail_orphans(orphan_after).await?;
    Ok(SweepReport {
        stuck: stuck.len(),
        orphans_closed,
    })
}

/// The interval of a sweep loop: never under 100 ms, so a tiny setting cannot spin.
fn sweep_interval(every: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(every.max(Duration::from_millis(100)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// Judges schedules every `config.every`, forever: late and missed slots become `missed` runs,
/// incidents open and resolve, the sweeper's shared heartbeat is written (see
/// [`cronmon_core::health`]). Logs what each round did (info) and its failures (warn), and
/// goes on after a failure. Safe to run in every instance sharing a database: each slot is
/// judged once.
///
/// The standalone server runs it; an app that nests [`crate::router`] spawns it beside the
/// router, with the same interval in [`Config::sweep_every`] so that `/health` and `/metrics`
/// know when it stalled:
///
/// ```no_run
/// # async fn demo(store: std::sync::Arc<dyn cronmon_core::Store>) {
/// use cronmon_core::health::SweepConfig;
/// let sweeper = tokio::spawn(cronmon_http::run_sweeper(store, SweepConfig::default()));
/// // … and `sweeper.abort()` at shutdown.
/// # }
/// ```
pub async fn run_sweeper(store: Arc<dyn Store>, config: SweepConfig) {
    let mut tick = sweep_interval(config.every);
    let mut health = HealthSweeps::new(store, config);
    loop {
        tick.tick().await;
        health.round(Utc::now()).await;
    }
}

/// The schedule-health sweeper of a loop, and what its rounds already reported.
struct HealthSweeps {
    sweeper: Sweeper,
    settle: Duration,
    /// While slots wait for the settling delay after an outage: since when they wait (logged
    /// once, when it starts, and again when it ends).
    holding: Option<DateTime<Utc>>,
}

impl HealthSweeps {
    fn new(store: Arc<dyn Store>, config: SweepConfig) -> Self {
        let settle = config.settle;
        Self {
            sweeper: Sweeper::new(store, config),
            settle,
            holding: None,
        }
    }

    /// One round at `now`, logged.
    async fn round(&mut self, now: DateTime<Utc>) {
        let report = match self.sweeper.sweep(now).await {
            Ok(report) => report,
            Err(e) => {
                tracing::warn!(error = %e, "schedule health: sweep failed");
                return;
            }
        };
        match (self.holding, report.holding_until) {
            (None, Some(since)) => tracing::info!(
                %since,
                settle = ?self.settle,
                "schedule health: cronmon was down; holding slots due after {since} until the \
                 settling delay ends, so runs spooled meanwhile arrive first"
            ),
            (Some(_), None) => tracing::info!(
                "schedule health: settling delay over; judging the slots due during the outage"
            ),
            _ => {}
        }
        self.holding = report.holding_until;
        if report.missed > 0 || report.replaced > 0 || report.anomalies > 0 {
            tracing::info!(
                missed = report.missed,
                replaced = report.replaced,
                anomalies = report.anomalies,
                "schedule health: {} missed slot row(s) written, {} replaced by a late start, \
                 {} run(s) of unusual duration",
                report.missed,
                report.replaced,
                report.anomalies
            );
        }
        if report.opened > 0 || report.resolved > 0 {
            tracing::info!(
                opened = report.opened,
                resolved = report.resolved,
                "schedule health: {} incident(s) opened, {} resolved",
                report.opened,
                report.resolved
            );
        }
        tracing::debug!(?report, "schedule health: sweep");
    }
}

/// Closes as `failed` the batch runs with no report for `stale_after` at `now`, and logs it.
/// Safe from any number of servers: closing is a conditional update of the row.
async fn fail_stale_batch_runs(store: &dyn Store, stale_after: Duration, now: DateTime<Utc>) {
    let Ok(age) = chrono::TimeDelta::from_std(stale_after) else {
        return; // longer than any run can have lasted: nothing is stale
    };
    let Some(before) = now.checked_sub_signed(age) else {
        return;
    };
    let message = format!(
        "no report for {}",
        humantime::format_duration(Duration::from_secs(stale_after.as_secs()))
    );
    match store.fail_stale_batch_runs(before, now, &message).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(closed = n, "closed silent batch runs as failed ({message})"),
        Err(e) => tracing::warn!(error = %e, "stale batch run sweep failed"),
    }
}

async fn sweeps(store: Arc<dyn Store>, config: ServerConfig) {
    let mut sweep = sweep_interval(config.sweep_every);
    let mut cleanup = tokio::time::interval(config.cleanup_every.max(Duration::from_secs(1)));
    cleanup.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut health = HealthSweeps::new(
        store.clone(),
        SweepConfig {
            every: config.sweep_every,
            settle: config.settle,
            ..SweepConfig::default()
        },
    );
    let mut known_stuck = std::collections::HashSet::new();
    loop {
        tokio::select! {
            _ = sweep.tick() => {
                match store.stuck_runs().await {
                    Ok(stuck) => {
                        let now: std::collections::HashSet<_> =
                            stuck.iter().map(|s| s.execution_id).collect();
                        for s in stuck.iter().filter(|s| !known_stuck.contains(&s.execution_id)) {
                            tracing::warn!(
                                cron = %s.cron_name, execution = %s.execution_id,
                                running_ms = s.running_ms, timeout_ms = s.timeout_ms,
                                "stuck run"
                            );
                        }
                        known_stuck = now;
                    }
                    Err(e) => tracing::warn!(error = %e, "stuck detection failed"),
                }
                match store.fail_orphans(config.orphan_after).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(closed = n, "closed orphaned runs as failed/timed_out"),
                    Err(e) => tracing::warn!(error = %e, "orphan sweep failed"),
                }
                fail_stale_batch_runs(store.as_ref(), config.batch_stale_after, Utc::now()).await;
                // After the orphans: a run closed as timed out counts in this round's streaks.
                health.round(Utc::now()).await;
            }
            _ = cleanup.tick() => {
                match store.cleanup(config.retention, 1000).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "retention: deleted old runs"),
                    Err(e) => tracing::warn!(error = %e, "retention failed"),
                }
            }
        }
    }
}
