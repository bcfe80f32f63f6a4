//! The real cronmon router (`cronmon_http`), served on loopback for the recorder's and the jobs'
//! HTTP tests.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use cronmon::store::Store;

/// A running server; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Serves the API at `http://addr/api/admin` on the current runtime; binds `addr` if given
    /// (to come back on the same port), else a free port.
    pub async fn start(store: Arc<dyn Store>, secret: &str, addr: Option<SocketAddr>) -> Self {
        let listener = tokio::net::TcpListener::bind(addr.unwrap_or(([127, 0, 0, 1], 0).into()))
            .await
            .expect("bind test server");
        let addr = listener.local_addr().expect("local addr");
        let api = cronmon_http::Api::new(store, cronmon_http::Config::new(secret));
        let app: Router = Router::new().nest("/api/admin", cronmon_http::router(api));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/admin", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
