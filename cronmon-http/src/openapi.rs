//! The OpenAPI 3 document, generated from the handlers' annotations (utoipa). The rows the
//! API answers (`Execution`, `Schedule`, `CronStats`, …) are the `cronmon-core` types
//! themselves, whose schemas come from their `openapi` feature, so the document describes the
//! very structs that are serialized.
//!
//! ```
//! let doc: serde_json::Value = serde_json::from_str(&cronmon_http::openapi::document_json())?;
//! assert!(doc["paths"]["/cron-executions/start"]["post"].is_object());
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::sync::OnceLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{events, executions, export, meta, metrics, schedules, stats};

/// Declares the two ways to send the secret.
#[derive(Debug)]
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "secret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Cron-Secret"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's OpenAPI description. Every route of [`crate::routes::protected`] and
/// [`crate::routes::open`] is listed in `paths` (a test checks it).
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "cronmon",
        description = "Monitor cron jobs and batch jobs. Paths are relative to the mount point \
                       (`/api/admin` in the standalone server). Every endpoint but `/health` \
                       needs the secret (`X-Cron-Secret` or `Authorization: Bearer`). Errors \
                       are `{\"error\": {\"code\", \"message\", \"field\"?}}`."
    ),
    paths(
        executions::start, executions::complete, events::events, executions::heartbeat, stats::stats,
        executions::list, executions::execution, schedules::schedules, schedules::put_schedule,
        stats::batches, meta::health, meta::openapi, export::export_csv, metrics::metrics
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security)
)]
struct ApiDoc;

/// The OpenAPI document of the API, to serve or to merge into a host application's own.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as JSON, built once (what `GET /openapi.json` answers).
pub fn document_json() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| document().to_json().unwrap_or_else(|_| "{}".to_owned()))
        .clone()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use crate::routes;

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    /// Every route the router serves is in the document with its method, and the document
    /// has no other; the routes behind the secret say so, the open ones do not.
    #[test]
    fn the_document_lists_exactly_the_routes() {
        let doc: Value = serde_json::from_str(&super::document_json()).unwrap();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                let methods = item.as_object().unwrap().keys();
                methods
                    .filter(|m| METHODS.contains(&m.as_str()))
                    .map(|m| (m.clone(), path.clone()))
            })
            .collect();
        let protected = routes::protected();
        let open = routes::open();
        let routed: BTreeSet<(String, String)> = protected
            .iter()
            .chain(&open)
            .map(|r| (r.method.as_str().to_lowercase(), r.path.to_owned()))
            .collect();
        assert_eq!(documented, routed);
        assert_eq!(routed.len(), protected.len() + open.len(), "no route twice");

        let security = |r: &routes::Route| {
            doc["paths"][r.path][r.method.as_str().to_lowercase()]["security"].clone()
        };
        for r in &protected {
            assert!(
                security(r).as_array().is_some_and(|s| !s.is_empty()),
                "{} {} needs the secret",
                r.method,
                r.path
            );
        }
        for r in &open {
            assert!(security(r).is_null(), "{} {} is open", r.method, r.path);
        }
    }

    /// The enums are documented with the texts they are written as.
    #[test]
    fn enums_have_their_texts() {
        let doc: Value = serde_json::from_str(&super::document_json()).unwrap();
        let texts = |name: &str| -> Vec<String> {
            doc["components"]["schemas"][name]["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} is documented"))
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let all = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
        use cronmon_core::{Reason, Status, TriggerType};
        let status: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        let reason: Vec<&str> = Reason::ALL.iter().map(|s| s.as_str()).collect();
        let trigger: Vec<&str> = TriggerType::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(texts("Status"), all(&status));
        assert_eq!(texts("Reason"), all(&reason));
        assert_eq!(texts("TriggerType"), all(&trigger));
    }
}
