//! [`Reader`]: what `status`, `runs` and `run` read, from a database (directly) or from a
//! cronmon server (over its API, with the secret), in one shape: the API's JSON, which the
//! store's rows serialize to as well. So both give the same output.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cronmon::store::Store;
use cronmon::{ExecutionFilter, PageRequest, Status};
use serde_json::Value;
use uuid::Uuid;

/// Why the monitor could not be read: `cronmon status` exits 2 on it.
#[derive(Debug)]
pub(crate) struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the figures come from.
pub(crate) enum Reader {
    Store(Arc<dyn Store>),
    Server {
        client: reqwest::Client,
        base: String,
        secret: Option<String>,
    },
}

/// Longest wait for the monitor's answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Which runs to list.
#[derive(Debug, Default)]
pub(crate) struct RunQuery {
    pub cron: Option<String>,
    pub status: Option<Status>,
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
}

impl Reader {
    /// A reader of `url`: `http(s)://…` is a server, anything else a database.
    pub(crate) async fn open(url: &str, secret: Option<String>) -> Result<Self, Unreachable> {
        if url.starts_with("http://") || url.starts_with("https://") {
            let client = reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .map_err(|e| Unreachable(e.to_string()))?;
            return Ok(Reader::Server {
                client,
                base: url.trim_end_matches('/').to_owned(),
                secret,
            });
        }
        let store = tokio::time::timeout(TIMEOUT, cronmon::store::connect(url))
            .await
            .map_err(|_| Unreachable(format!("no answer from the database within {TIMEOUT:?}")))?
            .map_err(|e| Unreachable(e.to_string()))?;
        Ok(Reader::Store(store))
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Unreachable> {
        let Reader::Server {
            client,
            base,
            secret,
        } = self
        else {
            return Err(Unreachable("not a server".into()));
        };
        let mut request = client.get(format!("{base}{path}")).query(query);
        if let Some(secret) = secret {
            request = request.header("x-cron-secret", secret);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Unreachable(format!("{base}: {e}")))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| Unreachable(format!("{base}: not cronmon's answer ({status}): {e}")))?;
        if !status.is_success() {
            let message = body
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(Unreachable(format!("{base}: HTTP {status}: {message}")));
        }
        Ok(body)
    }

    /// Every cron with its state and next run, as `GET /cron-schedules` answers them.
    pub(crate) async fn schedules(&self) -> Result<Vec<Value>, Unreachable> {
        match self {
            Reader::Store(store) => {
                let schedules = store
                    .schedules()
                    .await
                    .map_err(|e| Unreachable(e.to_string()))?;
                Ok(schedules
                    .into_iter()
                    .map(|s| {
                        let next = cronmon::rules::next_run_at(
                            s.cron_expression.as_deref(),
                            &s.timezone,
                            Utc::now(),
                        );
                        let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
                        if let Some(map) = v.as_object_mut() {
                            map.insert("next_run_at".into(), serde_json::json!(next));
                        }
                        v
                    })
                    .collect())
            }
            Reader::Server { .. } => {
                Ok(array(self.get("/cron-schedules", &[]).await?, "schedules"))
            }
        }
    }

    /// Runs, newest first, as `GET /cron-executions/list` answers them.
    pub(crate) async fn runs(&self, q: &RunQuery) -> Result<Vec<Value>, Unreachable> {
        match self {
            Reader::Store(store) => {
                let filter = ExecutionFilter {
                    cron_name: q.cron.clone(),
                    status: q.status,
                    from: q.since,
                    to: None,
                };
                let page = PageRequest::new(1, q.limit).map_err(|e| Unreachable(e.to_string()))?;
                let runs = store
                    .list_executions(&filter, page)
                    .await
                    .map_err(|e| Unreachable(e.to_string()))?;
                Ok(runs
                    .items
                    .iter()
                    .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                    .collect())
            }
            Reader::Server { .. } => {
                let mut query = vec![("limit", q.limit.to_string()), ("page", "1".into())];
                if let Some(cron) = &q.cron {
                    query.push(("cronName", cron.clone()));
                }
                if let Some(status) = q.status {
                    query.push(("status", status.as_str().to_owned()));
                }
                if let Some(since) = q.since {
                    query.push(("from", since.to_rfc3339()));
                }
                Ok(array(
                    self.get("/cron-executions/list", &query).await?,
                    "executions",
                ))
            }
        }
    }

    /// One run, as `GET /cron-executions/{id}` answers it.
    pub(crate) async fn run(&self, id: Uuid) -> Result<Option<Value>, Unreachable> {
        match self {
            Reader::Store(store) => Ok(store
                .execution(id)
                .await
                .map_err(|e| Unreachable(e.to_string()))?
                .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))),
            Reader::Server { .. } => match self.get(&format!("/cron-executions/{id}"), &[]).await {
                Ok(body) => Ok(body.get("execution").cloned()),
                Err(Unreachable(m)) if m.contains("HTTP 404") => Ok(None),
                Err(e) => Err(e),
            },
        }
    }
}

fn array(mut body: Value, key: &str) -> Vec<Value> {
    match body.get_mut(key).map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}
