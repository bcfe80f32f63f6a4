//! The endpoints, one module per resource: runs ([`executions`]), their CSV export
//! ([`export`]), batch runs ([`batch_runs`]), figures ([`stats`]), schedules and their pauses ([`schedules`]), incidents
//! and their events ([`incidents`]), maintenance windows ([`maintenance`]), notification
//! channels ([`channels`]) and the notifications sent to them ([`notifications`]), Prometheus
//! metrics ([`metrics`]) and the API itself ([`meta`]: health, OpenAPI document, 404 and 405).
//!
//! [`protected`] and [`open`] list every route once: [`crate::router`] is built from them,
//! and a test checks the OpenAPI document against them, so a new endpoint is added here and
//! in [`crate::openapi`].

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::Api;

pub(crate) mod batch_runs;
pub(crate) mod channels;
pub(crate) mod events;
pub(crate) mod executions;
pub(crate) mod export;
pub(crate) mod incidents;
pub(crate) mod maintenance;
pub(crate) mod meta;
pub(crate) mod metrics;
pub(crate) mod notifications;
pub(crate) mod schedules;
pub(crate) mod stats;

/// One route: a method on a path (relative to the mount point) and its handler.
pub(crate) struct Route {
    /// Also in `handler`; kept apart for the test that checks the document against the routes.
    #[cfg_attr(not(test), expect(dead_code))]
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) handler: MethodRouter<Api>,
}

impl Route {
    fn get<H: Handler<T, Api>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self {
            method: Method::GET,
            path,
            handler: get(handler),
        }
    }

    fn post<H: Handler<T, Api>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self {
            method: Method::POST,
            path,
            handler: post(handler),
        }
    }

    fn put<H: Handler<T, Api>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self {
            method: Method::PUT,
            path,
            handler: put(handler),
        }
    }

    fn delete<H: Handler<T, Api>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self {
            method: Method::DELETE,
            path,
            handler: delete(handler),
        }
    }
}

/// The routes behind the secret.
pub(crate) fn protected() -> Vec<Route> {
    vec![
        Route::post("/cron-executions/start", executions::start),
        Route::post("/cron-executions/complete", executions::complete),
        Route::post("/cron-executions/events", events::events),
        Route::get("/cron-executions/stats", stats::stats),
        Route::get("/cron-executions/list", executions::list),
        Route::get("/cron-executions/export.csv", export::export_csv),
        Route::get("/cron-executions/batches", stats::batches),
        Route::get("/cron-executions/{id}", executions::execution),
        Route::post("/cron-executions/{id}/heartbeat", executions::heartbeat),
        Route::post("/batch-runs/start", batch_runs::start),
        Route::get("/batch-runs", batch_runs::list),
        Route::get("/batch-runs/export.csv", batch_runs::export_csv),
        Route::get("/batch-runs/{id}", batch_runs::run),
        Route::post("/batch-runs/{id}/advance", batch_runs::advance),
        Route::post("/batch-runs/{id}/complete", batch_runs::complete),
        Route::get("/cron-schedules", schedules::schedules),
        Route::put("/cron-schedules/{name}", schedules::put_schedule),
        Route::post("/cron-schedules/{name}/pause", schedules::pause),
        Route::post("/cron-schedules/{name}/resume", schedules::resume),
        Route::get("/incidents", incidents::list),
        Route::get("/incidents/{id}", incidents::incident),
        Route::get("/incident-events", incidents::events),
        Route::get("/maintenance-windows", maintenance::list),
        Route::put("/maintenance-windows/{id}", maintenance::put),
        Route::delete("/maintenance-windows/{id}", maintenance::delete),
        Route::get("/channels", channels::list),
        Route::get("/channels/{name}", channels::channel),
        Route::put("/channels/{name}", channels::put),
        Route::delete("/channels/{name}", channels::delete),
        Route::post("/channels/{name}/test", channels::test),
        Route::get("/notifications", notifications::list),
        Route::get("/notifications/{id}", notifications::notification),
        Route::get("/openapi.json", meta::openapi),
        Route::get("/metrics", metrics::metrics),
    ]
}

/// The API routes open to all: the health probe. (The dashboard's page and assets are open
/// too; they are not part of the JSON API, so the document leaves them out.)
pub(crate) fn open() -> Vec<Route> {
    vec![Route::get("/health", meta::health)]
}
