//! The real cronmon router (`cronmon_http`), served on loopback for the recorder's and the jobs'
//! HTTP tests.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use cronmon::store::Store;
use cronmon_http::server::{Server, ServerConfig};
use tokio::sync::oneshot;

use super::SECRET;

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

/// A standalone server (`cronmon_http::server::Server`, sweeps included) in this process.
pub struct Running {
    /// The API's mount point, `http://127.0.0.1:<port>/api/admin`.
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Binds a server on `url`'s database (on a free port, with the suite's secret), adjusted
    /// by `tweak`, and serves it until [`Running::stop`].
    pub async fn start(url: &str, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = ServerConfig {
            database_url: url.to_owned(),
            bind: "127.0.0.1:0".into(),
            secret: Some(SECRET.into()),
            ..ServerConfig::default()
        };
        tweak(&mut config);
        let server = Server::bind(config).await.expect("bind");
        let base = format!("http://{}/api/admin", server.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        Self {
            base,
            stop: Some(stop),
            task,
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}
