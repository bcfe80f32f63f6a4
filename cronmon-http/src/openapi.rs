//! The OpenAPI 3 document, generated from the handlers' annotations (utoipa). The rows the
//! API answers (`Execution`, `Schedule`, `CronStats`, …) are the `cronmon-core` types
//! themselves, whose schemas come from their `openapi` feature, so the document describes the
//! very structs that are serialized. The bounds the server enforces are written into it from
//! the rules' constants (`bounds.rs`).
//!
//! ```
//! let doc: serde_json::Value = serde_json::from_str(&cronmon_http::openapi::document_json())?;
//! assert!(doc["paths"]["/cron-executions/start"]["post"].is_object());
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::sync::OnceLock;

mod bounds;
mod channels;

use bounds::Bounds;
use channels::Channels;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{
    batch_runs, channels as channel_routes, events, executions, export, incidents, maintenance,
    meta, metrics, notifications, schedules, stats,
};

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
        schedules::pause, schedules::resume, incidents::list, incidents::incident,
        incidents::events, maintenance::list, maintenance::put, maintenance::delete,
        stats::batches, meta::health, meta::openapi, export::export_csv, metrics::metrics,
        channel_routes::list, channel_routes::channel, channel_routes::put,
        channel_routes::delete, channel_routes::test, notifications::list,
        notifications::notification, batch_runs::start, batch_runs::advance,
        batch_runs::complete, batch_runs::list, batch_runs::run, batch_runs::export_csv
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security, &Bounds, &Channels)
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

    /// The bounds in the document are the rules' constants, where the server checks them.
    #[test]
    fn bounds_come_from_the_rules() {
        use cronmon_core::rules::limits::*;
        let doc: Value = serde_json::from_str(&super::document_json()).unwrap();
        let param = |path: &str, method: &str, name: &str| -> Value {
            doc["paths"][path][method]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{method} {path} has {name}"))["schema"]
                .clone()
        };
        let limit = param("/cron-executions/list", "get", "limit");
        assert_eq!(
            (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
            (Some(1), Some(u64::from(PAGE_LIMIT_MAX)))
        );
        assert_eq!(
            limit["default"].as_u64(),
            Some(u64::from(PAGE_LIMIT_DEFAULT))
        );
        assert_eq!(param("/cron-executions/list", "get", "page")["minimum"], 1);
        let hours = param("/cron-executions/stats", "get", "hours");
        assert_eq!(
            (hours["minimum"].as_u64(), hours["maximum"].as_u64()),
            (Some(1), Some(u64::from(STATS_HOURS_MAX)))
        );
        let name = param("/cron-schedules/{name}", "put", "name");
        assert_eq!(name["maxLength"].as_u64(), Some(CRON_NAME_MAX_CHARS as u64));
        assert_eq!(name["pattern"], super::bounds::cron_name_pattern());
        for bound in ["from", "to"] {
            let any_of = param("/cron-executions/export.csv", "get", bound)["anyOf"].clone();
            let formats: Vec<&str> = any_of
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["format"].as_str())
                .collect();
            assert_eq!(formats, ["date-time", "date"], "{bound}");
        }

        let schema = |name: &str, field: &str| {
            doc["components"]["schemas"][name]["properties"][field].clone()
        };
        let start_name = schema("StartRequest", "cronName");
        assert_eq!(
            start_name["maxLength"].as_u64(),
            Some(CRON_NAME_MAX_CHARS as u64)
        );
        assert_eq!(start_name["minLength"], 1);
        for (body, field) in [
            ("StartRequest", "startedAt"),
            ("StartRequest", "scheduledFor"),
            ("CompleteRequest", "completedAt"),
        ] {
            assert_eq!(
                schema(body, field)["pattern"],
                super::bounds::year_pattern(),
                "{body}.{field}"
            );
        }
        assert_eq!(
            schema("StartRequest", "host")["maxLength"].as_u64(),
            Some(SHORT_TEXT_MAX_BYTES as u64)
        );
        assert_eq!(
            schema("ScheduleUpdate", "displayName")["maxLength"].as_u64(),
            Some(DISPLAY_NAME_MAX_BYTES as u64)
        );
        let expression = schema("ScheduleUpdate", "cronExpression");
        assert_eq!(
            expression["maxLength"].as_u64(),
            Some(CRON_EXPRESSION_MAX_BYTES as u64)
        );
        assert_eq!(expression["format"], "cron");
        for (body, field) in [
            ("CompleteRequest", "durationMs"),
            ("CompleteRequest", "cpuMs"),
            ("HeartbeatRequest", "done"),
            ("HeartbeatRequest", "total"),
            ("ScheduleUpdate", "graceMs"),
        ] {
            assert_eq!(schema(body, field)["minimum"], 0, "{body}.{field}");
        }
        for field in [
            "timeoutMs",
            "heartbeatTimeoutMs",
            "failureThreshold",
            "recoveryThreshold",
        ] {
            assert_eq!(schema("ScheduleUpdate", field)["minimum"], 1, "{field}");
        }
        for field in ["failureThreshold", "recoveryThreshold"] {
            assert_eq!(
                schema("ScheduleUpdate", field)["maximum"].as_i64(),
                Some(THRESHOLD_MAX),
                "{field}"
            );
        }
        let factor = schema("ScheduleUpdate", "anomalyFactor");
        assert_eq!(
            (factor["minimum"].as_f64(), factor["maximum"].as_f64()),
            (Some(ANOMALY_FACTOR_MIN), Some(ANOMALY_FACTOR_MAX))
        );
        let floor = schema("ScheduleUpdate", "minDurationMs");
        assert_eq!(
            (floor["minimum"].as_i64(), floor["maximum"].as_i64()),
            (Some(0), Some(RUN_DURATION_MAX_MS))
        );

        // Schedule health.
        assert_eq!(
            schema("PauseRequest", "until")["pattern"],
            super::bounds::year_pattern()
        );
        let window = |field: &str| schema("WindowRequest", field);
        assert_eq!(window("cronExpression")["format"], "cron");
        assert_eq!(
            window("cronName")["pattern"],
            super::bounds::cron_name_pattern()
        );
        assert_eq!(
            (
                window("durationMs")["minimum"].as_i64(),
                window("durationMs")["maximum"].as_i64()
            ),
            (Some(1), Some(MAINTENANCE_DURATION_MAX_MS))
        );
        assert_eq!(
            window("description")["maxLength"].as_u64(),
            Some(DESCRIPTION_MAX_BYTES as u64)
        );
        assert!(
            window("timezone")["enum"]
                .as_array()
                .unwrap()
                .contains(&Value::from("UTC"))
        );
        let limit = param("/incidents", "get", "limit");
        assert_eq!(limit["maximum"].as_u64(), Some(u64::from(PAGE_LIMIT_MAX)));
        assert!(
            param("/incidents", "get", "state")["enum"]
                .as_array()
                .unwrap()
                .contains(&Value::from("resolved"))
        );
        assert!(param("/incidents", "get", "from")["anyOf"].is_array());
        let limit = param("/incident-events", "get", "limit");
        assert_eq!(
            (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
            (Some(1), Some(u64::from(crate::params::EVENTS_LIMIT_MAX)))
        );
        assert_eq!(param("/incident-events", "get", "after")["minimum"], 0);
        for path in [
            "/cron-schedules/{name}/pause",
            "/cron-schedules/{name}/resume",
        ] {
            assert_eq!(
                param(path, "post", "name")["pattern"],
                super::bounds::cron_name_pattern(),
                "{path}"
            );
        }
        let zones = schema("ScheduleUpdate", "timezone")["enum"].clone();
        assert!(
            zones
                .as_array()
                .unwrap()
                .contains(&Value::from("Europe/Paris"))
        );
        assert_eq!(
            schema("CompleteRequest", "status")["enum"],
            serde_json::json!(["completed", "failed"])
        );
        // Bodies a client may leave out.
        for path in [
            "/cron-executions/{id}/heartbeat",
            "/cron-schedules/{name}",
            "/cron-schedules/{name}/pause",
        ] {
            let op = doc["paths"][path]
                .as_object()
                .unwrap()
                .values()
                .next()
                .unwrap();
            assert_eq!(op["requestBody"]["required"], false, "{path}");
        }
    }

    /// The year pattern and the cron-name pattern say what the rules say.
    #[test]
    fn patterns_agree_with_the_rules() {
        let year = super::bounds::year_pattern();
        assert!(
            year.contains("19[7-9][0-9]") && year.contains("[2-9][0-9][0-9][0-9]"),
            "{year}"
        );
        let name = super::bounds::cron_name_pattern();
        assert!(name.starts_with("^[^") && name.ends_with("])?$"), "{name}");
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
        use cronmon_core::health::{Anomaly, CronState, IncidentEventKind, IncidentKind};
        let state: Vec<&str> = CronState::ALL.iter().map(|s| s.as_str()).collect();
        let kind: Vec<&str> = IncidentKind::ALL.iter().map(|s| s.as_str()).collect();
        let event: Vec<&str> = IncidentEventKind::ALL.iter().map(|s| s.as_str()).collect();
        let anomaly: Vec<&str> = Anomaly::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(texts("CronState"), all(&state));
        assert_eq!(texts("IncidentKind"), all(&kind));
        assert_eq!(texts("IncidentEventKind"), all(&event));
        assert_eq!(texts("Anomaly"), all(&anomaly));
        assert_eq!(
            texts("SweeperHealth"),
            all(&["ok", "stalled", "not_started"])
        );
    }
}
