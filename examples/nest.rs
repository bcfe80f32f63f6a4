//! An existing axum app that nests cronmon's API under `/api/admin`, next to its own routes
//! and its own state.
//!
//! Run with `CRON_SECRET=s3cret cargo run --example nest`, then
//! `curl -H 'X-Cron-Secret: s3cret' localhost:3000/api/admin/cron-schedules`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use cronmon_http::{Api, Config};

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

async fn hello(State(state): State<AppState>) -> &'static str {
    state.greeting
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = cronmon::store::connect("sqlite://nest-demo.db").await?;
    let secret = std::env::var("CRON_SECRET").unwrap_or_else(|_| "s3cret".into());
    let cronmon = cronmon_http::router(Api::new(store, Config::new(secret)));

    // The host's router has its own state type; cronmon's router fits any.
    let app: Router = Router::new()
        .route("/", get(hello))
        .nest("/api/admin", cronmon)
        .with_state(AppState { greeting: "my app" });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://127.0.0.1:3000 (cronmon at /api/admin)");
    axum::serve(listener, app).await?;
    Ok(())
}
