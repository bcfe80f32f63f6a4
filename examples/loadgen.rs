//! A tiny load generator for cronmon's HTTP ingest: `connections` clients each loop start →
//! complete (two events) for `seconds`, then it prints events/s and latency percentiles.
//!
//! Run with
//! ```sh
//! CRON_SECRET=s3cret cargo run --release --example server -- --database-url postgres://… &
//! CRON_SECRET=s3cret cargo run --release --example loadgen -- --connections 64 --seconds 10
//! ```
//! Several `--url`s spread the clients over several servers (on one database, say), round
//! robin; answers other than 2xx are counted by status. `--batch N` sends N events a request
//! to `POST /cron-executions/events` (N / 2 runs, each a start and its completion), as the
//! recorder does; latencies are then per request.
//!
//! `--burst N` is the top of the minute instead: N distinct crons each start once, the starts
//! spread evenly over one second (at most `--connections` requests in flight), then each
//! completes. It prints each start's latency from its due time (waiting for a free connection
//! included, as a job would wait), then checks with `GET /cron-executions/stats` that all N
//! runs were stored, completed, once.
//! ```sh
//! CRON_SECRET=s3cret cargo run --release --example loadgen -- --burst 10000 --connections 512
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

/// Measures events/s and latency of POST start/complete against a running server.
#[derive(Debug, Parser)]
struct Args {
    /// Base URL of the API (the mount point); repeat it to spread clients over servers.
    #[arg(long, default_value = "http://127.0.0.1:8080/api/admin")]
    url: Vec<String>,
    /// Concurrent clients (each keeps one connection).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Distinct cron names to spread runs over.
    #[arg(long, default_value_t = 100)]
    crons: usize,
    /// Events a request: 1 posts each start and completion alone; more (even, at most 1000)
    /// posts that many to the batch endpoint.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// The top-of-the-minute burst: this many distinct crons start within one second, then
    /// complete (instead of the steady loop).
    #[arg(long)]
    burst: Option<usize>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let secret = std::env::var("CRON_SECRET").expect("set CRON_SECRET to the server's secret");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    if let Some(n) = args.burst {
        burst(&args, client, &secret, n).await;
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let began = Instant::now();
    let errors = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        String,
        u64,
    >::new()));
    let mut tasks = Vec::new();
    for worker in 0..args.connections {
        let (client, url, secret, errors) = (
            client.clone(),
            args.url[worker % args.url.len()].clone(),
            secret.clone(),
            errors.clone(),
        );
        let crons = args.crons.max(1);
        let batch = args.batch.min(1000);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut sent = 0usize;
            let mut i = worker;
            while Instant::now() < deadline {
                let mut requests = Vec::new();
                if batch <= 1 {
                    let id = uuid::Uuid::now_v7();
                    requests.push(("start", 1, json!({"cronName": format!("load-{}", i % crons), "executionId": id})));
                    requests.push(("complete", 1, json!({"executionId": id, "status": "completed", "durationMs": 12, "output": {"n": i}})));
                } else {
                    let mut events = Vec::with_capacity(batch);
                    for k in 0..batch / 2 {
                        let id = uuid::Uuid::now_v7();
                        events.push(json!({"kind": "start", "cronName": format!("load-{}", (i + k) % crons), "executionId": id}));
                        events.push(json!({"kind": "complete", "executionId": id, "status": "completed", "durationMs": 12, "output": {"n": i}}));
                    }
                    requests.push(("events", events.len(), serde_json::Value::Array(events)));
                }
                for (path, count, body) in requests {
                    let t = Instant::now();
                    let answer = client
                        .post(format!("{url}/cron-executions/{path}"))
                        .header("X-Cron-Secret", &secret)
                        .json(&body)
                        .send()
                        .await;
                    latencies.push(t.elapsed());
                    sent += count;
                    let error = match answer {
                        Ok(r) if r.status().is_success() => None,
                        Ok(r) => Some(r.status().as_u16().to_string()),
                        Err(_) => Some("connection".to_owned()),
                    };
                    if let Some(e) = error {
                        *errors.lock().unwrap_or_else(|p| p.into_inner()).entry(e).or_default() += 1;
                    }
                }
                i += 7;
            }
            (latencies, sent)
        }));
    }
    let mut all = Vec::new();
    let mut events = 0;
    for t in tasks {
        let (latencies, sent) = t.await.expect("worker");
        all.extend(latencies);
        events += sent;
    }
    let elapsed = began.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{events} events in {elapsed:.1} s = {:.0} events/s over {} connections to {} server(s), {} a request; errors {:?}; latency ms p50 {:.2} p99 {:.2} max {:.2}",
        events as f64 / elapsed,
        args.connections,
        args.url.len(),
        args.batch.clamp(1, 1000),
        errors.lock().unwrap_or_else(|p| p.into_inner()),
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
}

/// Milliseconds at the quantile `p` of sorted durations.
fn quantile(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// `--burst N`: N crons start within one second, then complete; then the count is checked.
async fn burst(args: &Args, client: reqwest::Client, secret: &str, n: usize) {
    let url = args.url[0].clone();
    let tag = uuid::Uuid::now_v7().simple().to_string()[..8].to_owned();
    let slots = Arc::new(tokio::sync::Semaphore::new(args.connections.max(1)));
    let began = Instant::now();
    let post = |path: &'static str, body: serde_json::Value| {
        let (client, url, secret, slots) = (
            client.clone(),
            url.clone(),
            secret.to_owned(),
            slots.clone(),
        );
        async move {
            let _slot = slots.acquire_owned().await.expect("semaphore");
            match client
                .post(format!("{url}/cron-executions/{path}"))
                .header("X-Cron-Secret", &secret)
                .json(&body)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(r.status().as_u16().to_string()),
                Err(_) => Some("connection".to_owned()),
            }
        }
    };
    let mut starts = Vec::with_capacity(n);
    let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
    for (k, id) in ids.iter().enumerate() {
        let due = began + Duration::from_secs_f64(k as f64 / n as f64);
        let body = json!({"cronName": format!("burst-{tag}-{k}"), "executionId": id});
        let send = post("start", body);
        starts.push(tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            let error = send.await;
            (due.elapsed(), error)
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    let mut errors = std::collections::BTreeMap::<String, u64>::new();
    for t in starts {
        let (latency, error) = t.await.expect("start");
        latencies.push(latency);
        if let Some(e) = error {
            *errors.entry(e).or_default() += 1;
        }
    }
    let start_phase = began.elapsed().as_secs_f64();
    latencies.sort();
    let completing = Instant::now();
    let completes: Vec<_> = ids
        .iter()
        .map(|id| {
            tokio::spawn(post(
                "complete",
                json!({"executionId": id, "status": "completed", "durationMs": 12}),
            ))
        })
        .collect();
    for t in completes {
        if let Some(e) = t.await.expect("complete") {
            *errors.entry(format!("complete {e}")).or_default() += 1;
        }
    }
    let complete_phase = completing.elapsed().as_secs_f64();
    // Nothing lost: every cron of this burst has one run, completed.
    let stats: serde_json::Value = client
        .get(format!("{url}/cron-executions/stats?hours=1"))
        .header("X-Cron-Secret", secret)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json");
    let prefix = format!("burst-{tag}-");
    let (mut crons, mut runs, mut completed) = (0, 0, 0);
    for s in stats["stats"].as_array().into_iter().flatten() {
        if s["cron_name"]
            .as_str()
            .is_some_and(|c| c.starts_with(&prefix))
        {
            crons += 1;
            runs += s["total_executions"].as_i64().unwrap_or(0);
            completed += s["completed_count"].as_i64().unwrap_or(0);
        }
    }
    println!(
        "burst of {n} starts in {start_phase:.2} s over at most {} connections: latency from due time ms p50 {:.1} p99 {:.1} max {:.1}; completions in {complete_phase:.2} s; errors {errors:?}; stored {crons} crons, {runs} runs, {completed} completed ({})",
        args.connections,
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.99),
        quantile(&latencies, 1.0),
        if crons == n as i64 && runs == n as i64 && completed == n as i64 {
            "nothing lost"
        } else {
            "MISSING RUNS"
        },
    );
}
