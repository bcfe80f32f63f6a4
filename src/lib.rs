pub use cronmon_core::*;

/// The HTTP API as a mountable axum router, and the standalone server (feature `http`).
#[cfg(feature = "http")]
pub use cronmon_http as http;
