//! The bounds the server enforces, written into the generated document from the rules'
//! constants ([`rules::limits`]) rather than copied by hand into attributes: a limit changed
//! in `cronmon-rules` changes the document with it, and generated clients and schema-driven
//! fuzzers (schemathesis, in the integration tests) know every bound the server checks.
//!
//! What JSON Schema cannot say exactly is said as closely as it can and in the description:
//! lengths of texts stored as bytes are given as `maxLength` (which counts characters, so a
//! text of many multi-byte characters can still be refused), a time's year is checked in UTC
//! after its offset is applied, and a cron expression has the custom `format: cron` (the
//! server also refuses one that never fires) on top of a pattern of its syntax.

use cronmon_core::batch::BATCH_KIND_MAX_CHARS;
use cronmon_core::rules::limits::{
    ANOMALY_FACTOR_MAX, ANOMALY_FACTOR_MIN, CPU_MS_MAX, CRON_EXPRESSION_MAX_BYTES,
    CRON_NAME_MAX_CHARS, DAY_MS, DESCRIPTION_MAX_BYTES, DISPLAY_NAME_MAX_BYTES,
    MAINTENANCE_DURATION_MAX_MS, MAX_RSS_KB_MAX, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, PID_MIN,
    PROGRESS_MAX, RUN_DURATION_MAX_MS, SCHEDULE_DURATION_MAX_MS, SHORT_TEXT_MAX_BYTES,
    STATS_HOURS_MAX, THRESHOLD_MAX, TIME_FUTURE_MAX_MS, TIME_PAST_MAX_MS, YEAR_MAX, YEAR_MIN,
};
use cronmon_core::{Reason, Status, TriggerType};

use crate::params::{EVENTS_LIMIT_DEFAULT, EVENTS_LIMIT_MAX};
use crate::routes::events::MAX_EVENTS;
use serde_json::Value;
use utoipa::Modify;
use utoipa::openapi::path::{Operation, Parameter};
use utoipa::openapi::schema::{
    AnyOfBuilder, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{OpenApi, RefOr, Required};

/// Control characters (what Rust's `char::is_control` means: Unicode category Cc), as a
/// character-class body valid in ECMA-262 and in Python's and Rust's regexes alike.
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";

/// White space that is not a control character (the rest of Rust's `char::is_whitespace`).
const SPACE: &str = r"\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// A cron name ([`rules::cron_name`]): no control character, no white space at either end.
/// The length is `minLength`/`maxLength`.
pub(crate) fn cron_name_pattern() -> String {
    format!("^[^{CONTROL}{SPACE}](?:[^{CONTROL}]*[^{CONTROL}{SPACE}])?$")
}

/// A text stored as is: no NUL character.
const NO_NUL: &str = r"^[^\u0000]*$";

/// Years from [`YEAR_MIN`] to [`YEAR_MAX`] at the start of a date or time, as a regex
/// alternation, built from the constants so the two never disagree.
pub(crate) fn year_pattern() -> String {
    format!("^(?:{})-", year_alternation(YEAR_MIN, YEAR_MAX))
}

/// A regex alternation matching exactly the four-digit years `min..=max`.
fn year_alternation(min: i32, max: i32) -> String {
    let (min, max) = (min.clamp(0, 9999) as u32, max.clamp(0, 9999) as u32);
    digits_range(min, max, 4).join("|")
}

/// Regex alternatives matching exactly the zero-padded `width`-digit numbers `lo..=hi`: a
/// partial run under the lowest leading digit, the leading digits whose every tail fits, a
/// partial run under the highest (1970–9999 → `19[7-9][0-9]`, `[2-9][0-9][0-9][0-9]`).
fn digits_range(lo: u32, hi: u32, width: u32) -> Vec<String> {
    if width == 0 {
        return vec![String::new()];
    }
    let unit = 10u32.pow(width - 1);
    let (lo_head, hi_head) = (lo / unit, hi / unit);
    let under = |head: u32, lo: u32, hi: u32| {
        digits_range(lo, hi, width - 1)
            .into_iter()
            .map(move |tail| format!("{head}{tail}"))
    };
    if lo_head == hi_head {
        return under(lo_head, lo % unit, hi % unit).collect();
    }
    let mut out = Vec::new();
    let mut first_full = lo_head;
    if !lo.is_multiple_of(unit) {
        out.extend(under(lo_head, lo % unit, unit - 1));
        first_full += 1;
    }
    let hi_partial = hi % unit != unit - 1;
    let last_full = if hi_partial { hi_head - 1 } else { hi_head };
    if first_full <= last_full {
        let head = if first_full == last_full {
            first_full.to_string()
        } else {
            format!("[{first_full}-{last_full}]")
        };
        out.push(format!("{head}{}", "[0-9]".repeat(width as usize - 1)));
    }
    if hi_partial {
        out.extend(under(hi_head, 0, hi % unit));
    }
    out
}

/// The syntax of a cron expression ([`rules::cron_expression`]): an alias (`@daily`, in any
/// case) or five fields of digits, names (`MON`, `JAN`), `*`, `?`, `L`, `W`, `#`, ranges,
/// lists and steps, white space around it ignored. Whether it fires is `format: cron`.
pub(crate) fn cron_syntax_pattern() -> String {
    let any_case = |word: &str| -> String {
        word.chars()
            .map(|c| format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase()))
            .collect()
    };
    let aliases: Vec<String> = ["yearly", "annually", "monthly", "weekly", "daily", "hourly"]
        .iter()
        .map(|a| any_case(a))
        .collect();
    let field = "[0-9A-Za-z*?#/,-]+";
    format!(
        r"^\s*(?:@(?:{})|{field}(?:[ \t]+{field}){{4}})\s*$",
        aliases.join("|")
    )
}

/// The custom format of a valid cron expression (one cronmon accepts: it also fires).
pub(crate) const CRON_FORMAT: &str = "cron";

/// Writes the server's bounds into the document.
#[derive(Debug)]
pub(crate) struct Bounds;

impl Modify for Bounds {
    fn modify(&self, doc: &mut OpenApi) {
        request_bodies(doc);
        health_bodies(doc);
        query_and_path(doc);
        batch_size(doc);
        batch_runs(doc);
    }
}

/// The pattern of a batch kind ([`cronmon_core::batch::batch_kind`]).
pub(crate) fn batch_kind_pattern() -> String {
    format!("^[0-9A-Za-z._-]{{1,{BATCH_KIND_MAX_CHARS}}}$")
}

/// The batch-run endpoints: their bodies' kinds, counts, times and texts, and the filters and
/// cursor of the list and the export.
fn batch_runs(doc: &mut OpenApi) {
    if let Some(components) = doc.components.as_mut() {
        let schemas = &mut components.schemas;
        let bodies = [
            "StartBatchRequest",
            "AdvanceBatchRequest",
            "CompleteBatchRequest",
        ];
        let mut with = |schema: &str, field: &str, f: &dyn Fn(&mut Object)| {
            if let Some(RefOr::T(Schema::Object(body))) = schemas.get_mut(schema)
                && let Some(RefOr::T(Schema::Object(p))) = body.properties.get_mut(field)
            {
                f(p);
            }
        };
        let progress = |p: &mut Object| {
            p.minimum = Some(0.into());
            p.maximum = Some(PROGRESS_MAX.into());
        };
        for body in bodies {
            with(body, "batchKind", &|p| {
                p.min_length = Some(1);
                p.max_length = Some(BATCH_KIND_MAX_CHARS);
                p.pattern = Some(batch_kind_pattern());
            });
            with(body, "startedAt", &run_time);
            for f in ["done", "failed", "total"] {
                with(body, f, &progress);
            }
        }
        with("StartBatchRequest", "host", &|p| {
            text(p, SHORT_TEXT_MAX_BYTES)
        });
        with("CompleteBatchRequest", "status", &|p| {
            let ended = Status::ALL.iter().filter(|s| **s != Status::Running);
            one_of_texts(p, ended.map(|s| s.as_str()))
        });
    }
    for path in ["/batch-runs", "/batch-runs/export.csv"] {
        let Some(op) = doc.paths.paths.get_mut(path).and_then(|i| i.get.as_mut()) else {
            continue;
        };
        param(op, "kind", |p| {
            // A filter: empty means any kind.
            p.pattern = Some(format!("^(?:[0-9A-Za-z._-]{{1,{BATCH_KIND_MAX_CHARS}}})?$"));
        });
        param(op, "status", |p| {
            let mut texts: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            texts.extend(["all", ""]);
            one_of_texts(p, texts.into_iter());
        });
        for bound in ["from", "to"] {
            replace_param(op, bound, time_or_date());
        }
        param(op, "limit", |p| {
            p.minimum = Some(1.into());
            p.maximum = Some(PAGE_LIMIT_MAX.into());
            p.default = Some(PAGE_LIMIT_DEFAULT.into());
        });
        param(op, "before", |p| {
            p.pattern = Some(crate::routes::batch_runs::cursor::pattern());
        });
    }
    // An empty body completes the run with the counts last reported.
    if let Some(op) = doc
        .paths
        .paths
        .get_mut("/batch-runs/{id}/complete")
        .and_then(|item| item.post.as_mut())
        && let Some(RefOr::T(body)) = op.request_body.as_mut()
    {
        body.required = Some(Required::False);
    }
}

/// `POST /cron-executions/events` takes 1 to [`MAX_EVENTS`] events.
fn batch_size(doc: &mut OpenApi) {
    let body = doc
        .paths
        .paths
        .get_mut("/cron-executions/events")
        .and_then(|item| item.post.as_mut())
        .and_then(|op| match op.request_body.as_mut() {
            Some(RefOr::T(body)) => Some(body),
            _ => None,
        })
        .and_then(|body| match body.content.get_mut("application/json") {
            Some(RefOr::T(content)) => content.schema.as_mut(),
            _ => None,
        });
    if let Some(RefOr::T(Schema::Array(events))) = body {
        events.min_items = Some(1);
        events.max_items = Some(MAX_EVENTS);
    }
}

fn request_bodies(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let schemas = &mut components.schemas;
    // Every integer of a body is read into its Rust type: say its range, so a client never
    // sends what cannot be read.
    for name in [
        "StartRequest",
        "CompleteRequest",
        "HeartbeatRequest",
        "HeartbeatItem",
        "StartBatchRequest",
        "AdvanceBatchRequest",
        "CompleteBatchRequest",
        "ScheduleUpdate",
        "WindowRequest",
    ] {
        if let Some(RefOr::T(Schema::Object(body))) = schemas.get_mut(name) {
            for prop in body.properties.values_mut() {
                if let RefOr::T(Schema::Object(p)) = prop {
                    integer_range_of_format(p);
                }
            }
        }
    }
    let mut with = |schema: &str, field: &str, f: &dyn Fn(&mut Object)| {
        if let Some(RefOr::T(Schema::Object(body))) = schemas.get_mut(schema)
            && let Some(RefOr::T(Schema::Object(p))) = body.properties.get_mut(field)
        {
            f(p);
        }
    };

    // The start, and the start carried along by a completion.
    for body in ["StartRequest", "CompleteRequest"] {
        with(body, "cronName", &cron_name);
        with(body, "triggerType", &|p| {
            one_of_texts(p, TriggerType::ALL.iter().map(|t| t.as_str()))
        });
        with(body, "startedAt", &run_time);
        with(body, "pid", &|p| p.minimum = Some(PID_MIN.into()));
        for f in ["host", "bootId", "version"] {
            with(body, f, &|p| text(p, SHORT_TEXT_MAX_BYTES));
        }
    }
    with("StartRequest", "scheduledFor", &run_time);

    with("CompleteRequest", "status", &|p| {
        let finished = Status::ALL.iter().filter(|s| **s != Status::Running);
        one_of_texts(p, finished.map(|s| s.as_str()))
    });
    with("CompleteRequest", "reason", &|p| {
        one_of_texts(p, Reason::ALL.iter().map(|r| r.as_str()))
    });
    with("CompleteRequest", "completedAt", &run_time);
    for (f, max) in [
        ("durationMs", RUN_DURATION_MAX_MS),
        ("cpuMs", CPU_MS_MAX),
        ("maxRssKb", MAX_RSS_KB_MAX),
    ] {
        with("CompleteRequest", f, &|p| {
            p.minimum = Some(0.into());
            p.maximum = Some(max.into());
        });
    }
    with("CompleteRequest", "output", &|p| {
        // Any JSON value is stored as sent, not only an object.
        p.schema_type = SchemaType::AnyValue;
    });

    let progress = |p: &mut Object| {
        p.minimum = Some(0.into());
        p.maximum = Some(PROGRESS_MAX.into());
    };
    for f in ["done", "total"] {
        with("HeartbeatRequest", f, &progress);
        with("HeartbeatItem", f, &progress);
    }

    with("ScheduleUpdate", "displayName", &|p| {
        text(p, DISPLAY_NAME_MAX_BYTES)
    });
    for body in ["ScheduleUpdate", "WindowRequest"] {
        with(body, "cronExpression", &cron_expression);
        with(body, "timezone", &|p| {
            let zones = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
            one_of_texts(p, zones);
        });
    }
    // rules::timeout_ms, heartbeat_timeout_ms and positive: greater than 0; grace_ms: 0 or more.
    for f in ["failureThreshold", "recoveryThreshold"] {
        with("ScheduleUpdate", f, &|p| {
            p.minimum = Some(1.into());
            p.maximum = Some(THRESHOLD_MAX.into());
        });
    }
    with("ScheduleUpdate", "anomalyFactor", &|p| {
        p.minimum = Some(ANOMALY_FACTOR_MIN.into());
        p.maximum = Some(ANOMALY_FACTOR_MAX.into());
    });
    with("ScheduleUpdate", "minDurationMs", &|p| {
        p.minimum = Some(0.into());
        p.maximum = Some(RUN_DURATION_MAX_MS.into());
    });
    for (f, min) in [("timeoutMs", 1), ("heartbeatTimeoutMs", 1), ("graceMs", 0)] {
        with("ScheduleUpdate", f, &|p| {
            p.minimum = Some(min.into());
            p.maximum = Some(SCHEDULE_DURATION_MAX_MS.into());
        });
    }
}

/// The bodies of schedule health: a pause's end, a maintenance window.
fn health_bodies(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let schemas = &mut components.schemas;
    let mut with = |schema: &str, field: &str, f: &dyn Fn(&mut Object)| {
        if let Some(RefOr::T(Schema::Object(body))) = schemas.get_mut(schema)
            && let Some(RefOr::T(Schema::Object(p))) = body.properties.get_mut(field)
        {
            f(p);
        }
    };
    // rules::pause_until: relative to the server's clock, said in words.
    with("PauseRequest", "until", &|p| {
        p.pattern = Some(year_pattern());
        let in_a_day = chrono::Utc::now() + chrono::TimeDelta::days(1);
        p.examples = vec![Value::from(
            in_a_day.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )];
        let bound = "After the server's clock, and at most 366 days ahead.";
        p.description = Some(match p.description.take() {
            Some(d) => format!("{d} {bound}"),
            None => bound.to_owned(),
        });
    });
    with("WindowRequest", "cronName", &cron_name);
    with("WindowRequest", "durationMs", &|p| {
        p.minimum = Some(1.into());
        p.maximum = Some(MAINTENANCE_DURATION_MAX_MS.into());
    });
    with("WindowRequest", "description", &|p| {
        text(p, DESCRIPTION_MAX_BYTES)
    });
}

fn query_and_path(doc: &mut OpenApi) {
    fn op<'a>(doc: &'a mut OpenApi, path: &str, get: bool) -> Option<&'a mut Operation> {
        let item = doc.paths.paths.get_mut(path)?;
        if get {
            item.get.as_mut()
        } else {
            item.post.as_mut().or(item.put.as_mut())
        }
    }
    if let Some(list) = op(doc, "/cron-executions/list", true) {
        paging(list);
        filters(list);
    }
    if let Some(list) = op(doc, "/incidents", true) {
        paging(list);
        param(list, "state", |p| {
            one_of_texts(p, ["open", "resolved", "all", ""].into_iter())
        });
        param(list, "cronName", |p| p.pattern = Some(NO_NUL.to_owned()));
        for bound in ["from", "to"] {
            replace_param(list, bound, time_or_date());
        }
    }
    if let Some(list) = op(doc, "/notifications", true) {
        paging(list);
        param(list, "status", |p| {
            let mut texts: Vec<&str> = cronmon_core::notify::NotificationStatus::ALL
                .iter()
                .map(|s| s.as_str())
                .collect();
            texts.extend(["all", ""]);
            one_of_texts(p, texts.into_iter())
        });
        for name in ["channel", "cronName"] {
            param(list, name, |p| p.pattern = Some(NO_NUL.to_owned()));
        }
    }
    if let Some(events) = op(doc, "/incident-events", true) {
        param(events, "after", |p| {
            p.minimum = Some(0.into());
            p.maximum = Some(i64::MAX.into());
            p.default = Some(0.into());
        });
        param(events, "limit", |p| {
            p.minimum = Some(1.into());
            p.maximum = Some(EVENTS_LIMIT_MAX.into());
            p.default = Some(EVENTS_LIMIT_DEFAULT.into());
        });
    }
    if let Some(export) = op(doc, "/cron-executions/export.csv", true) {
        filters(export);
    }
    if let Some(stats) = op(doc, "/cron-executions/stats", true) {
        param(stats, "hours", |p| {
            p.minimum = Some(1.into());
            p.maximum = Some(STATS_HOURS_MAX.into());
            p.default = Some(24.into());
        });
    }
    for path in [
        "/cron-schedules/{name}",
        "/cron-schedules/{name}/pause",
        "/cron-schedules/{name}/resume",
    ] {
        if let Some(op) = op(doc, path, false) {
            param(op, "name", cron_name);
        }
    }
    // An empty body reads as `{}`: `cron-logger.sh` sends heartbeats without one, a PUT
    // without one registers the cron with the defaults (or changes nothing), and a pause
    // without one lasts until resumed.
    for path in [
        "/cron-executions/{id}/heartbeat",
        "/cron-schedules/{name}",
        "/cron-schedules/{name}/pause",
    ] {
        if let Some(op) = op(doc, path, false)
            && let Some(RefOr::T(body)) = op.request_body.as_mut()
        {
            body.required = Some(Required::False);
        }
    }
}

/// `page` and `limit` of a paged list ([`crate::params::PageQuery`]).
fn paging(op: &mut Operation) {
    param(op, "page", |p| {
        // Read as a u32, which int32 (utoipa's format for it) does not cover.
        p.format = Some(SchemaFormat::KnownFormat(KnownFormat::Int64));
        p.minimum = Some(1.into());
        p.maximum = Some(u32::MAX.into());
    });
    param(op, "limit", |p| {
        p.minimum = Some(1.into());
        p.maximum = Some(PAGE_LIMIT_MAX.into());
        p.default = Some(PAGE_LIMIT_DEFAULT.into());
    });
}

/// A cron expression ([`rules::cron_expression`]): its syntax as a pattern, and the custom
/// format `cron` for what a pattern cannot say (it must fire).
fn cron_expression(p: &mut Object) {
    p.max_length = Some(CRON_EXPRESSION_MAX_BYTES);
    p.pattern = Some(cron_syntax_pattern());
    p.format = Some(SchemaFormat::Custom(CRON_FORMAT.to_owned()));
}

/// The run filters shared by the list and the export.
fn filters(op: &mut Operation) {
    param(op, "status", |p| {
        let mut texts: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        texts.extend(["all", ""]);
        one_of_texts(p, texts.into_iter());
    });
    param(op, "cronName", |p| {
        // A filter, not a name to store: any name matches or not; only NUL cannot be sent to
        // the databases.
        p.pattern = Some(NO_NUL.to_owned());
    });
    for bound in ["from", "to"] {
        replace_param(op, bound, time_or_date());
    }
}

/// RFC 3339 or a date, with a year the databases store; empty means no bound.
fn time_or_date() -> Schema {
    let alternative = |format: KnownFormat| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
            .pattern(Some(year_pattern()))
            .build()
    };
    let empty = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(0))
        .build();
    AnyOfBuilder::new()
        .item(alternative(KnownFormat::DateTime))
        .item(alternative(KnownFormat::Date))
        .item(empty)
        .build()
        .into()
}

fn param(op: &mut Operation, name: &str, f: impl FnOnce(&mut Object)) {
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(Parameter {
            name: n,
            schema: Some(RefOr::T(Schema::Object(schema))),
            ..
        }) = p
            && n == name
        {
            f(schema);
            return;
        }
    }
}

fn replace_param(op: &mut Operation, name: &str, schema: Schema) {
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(param) = p
            && param.name == name
        {
            param.schema = Some(RefOr::T(schema));
            return;
        }
    }
}

fn cron_name(p: &mut Object) {
    p.min_length = Some(1);
    p.max_length = Some(CRON_NAME_MAX_CHARS);
    p.pattern = Some(cron_name_pattern());
}

/// A time a run reports: its bound is relative to the server's clock, which no fixed schema
/// can state, so the description says it ([`rules::sent_time`]).
fn run_time(p: &mut Object) {
    p.pattern = Some(year_pattern());
    // An example valid whenever the document is read (it is built once per process): now.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    p.examples = vec![Value::from(now)];
    let bound = format!(
        "At most {} hours ahead of the server's clock and {} days back.",
        TIME_FUTURE_MAX_MS / 3_600_000,
        TIME_PAST_MAX_MS / DAY_MS
    );
    p.description = Some(match p.description.take() {
        Some(d) => format!("{d} {bound}"),
        None => bound,
    });
}

fn text(p: &mut Object, max_bytes: usize) {
    p.max_length = Some(max_bytes);
    p.pattern = Some(NO_NUL.to_owned());
}

/// One of `texts`; also `null` where the field may be null.
fn one_of_texts<'a>(p: &mut Object, texts: impl Iterator<Item = &'a str>) {
    let mut values: Vec<Value> = texts.map(Value::from).collect();
    if nullable(p) {
        values.push(Value::Null);
    }
    p.enum_values = Some(values);
}

fn nullable(p: &Object) -> bool {
    matches!(&p.schema_type, SchemaType::Array(types) if types.contains(&Type::Null))
}

fn integer_range_of_format(p: &mut Object) {
    let (min, max) = match &p.format {
        Some(SchemaFormat::KnownFormat(KnownFormat::Int32)) => {
            (i64::from(i32::MIN), i64::from(i32::MAX))
        }
        Some(SchemaFormat::KnownFormat(KnownFormat::Int64)) => (i64::MIN, i64::MAX),
        _ => return,
    };
    if p.minimum.is_none() {
        p.minimum = Some(min.into());
    }
    if p.maximum.is_none() {
        p.maximum = Some(max.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn year_alternation_matches_exactly_the_range() {
        let re = regex_lite(year_alternation(YEAR_MIN, YEAR_MAX));
        for y in 0..=9999 {
            let text = format!("{y:04}");
            assert_eq!(
                re(&text),
                (YEAR_MIN..=YEAR_MAX).contains(&y),
                "{text} against {}",
                year_alternation(YEAR_MIN, YEAR_MAX)
            );
        }
        for (lo, hi) in [(1970, 2038), (2000, 2000), (1, 9998), (1234, 5678)] {
            let re = regex_lite(year_alternation(lo, hi));
            for y in 0..=9999 {
                assert_eq!(
                    re(&format!("{y:04}")),
                    (lo..=hi).contains(&y),
                    "{y} in {lo}..={hi}"
                );
            }
        }
    }

    /// A matcher for the simple alternations of digit classes `year_alternation` writes.
    fn regex_lite(alternation: String) -> impl Fn(&str) -> bool {
        let body = alternation;
        move |text: &str| {
            body.split('|').any(|alt| {
                let mut chars = text.chars();
                let mut rest = alt;
                while !rest.is_empty() {
                    let Some(c) = chars.next() else { return false };
                    if let Some(class) = rest.strip_prefix('[') {
                        let (range, after) = class.split_once(']').unwrap();
                        let (lo, hi) = range.split_once('-').unwrap();
                        let (lo, hi) = (lo.chars().next().unwrap(), hi.chars().next().unwrap());
                        if !(lo..=hi).contains(&c) {
                            return false;
                        }
                        rest = after;
                    } else {
                        let first = rest.chars().next().unwrap();
                        if first != c {
                            return false;
                        }
                        rest = &rest[first.len_utf8()..];
                    }
                }
                chars.next().is_none()
            })
        }
    }
}
