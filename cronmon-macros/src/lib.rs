//! `#[tracked_cron("name", …)]`: records every call of a function as one run of a cron.
//!
//! Use it through the facade, `cronmon::tracked_cron`; the generated code names
//! `::cronmon::__private` (rename with `crate = "…"`).

use cronmon_rules as rules;
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Ident, ItemFn, LitStr, Token};

/// Records each call of the function as one run of the cron `name`.
///
/// On sync and async functions (also `main`, above or below `#[tokio::main]`) returning `()`,
/// `Result<T, E>` with `E: Display` (`anyhow::Error` included), `ExitCode`, or any other
/// value (then returning means success):
///
/// - `Ok` / `()` / `ExitCode::SUCCESS` → `completed`; another `ExitCode` → `failed` with it;
/// - `Err(e)` → `failed`, the error with its source chain, exit code 1;
/// - a panic → `failed` with the panic message, exit code 101, and the panic goes on;
///
/// then it waits (5 s by default, `flush_timeout`) for the recorder to deliver or spool the
/// run, so a `main` that exits right after loses nothing. The monitor comes from the
/// environment (`CRONMON_URL`, then `DATABASE_URL`); with none the job runs unmonitored with
/// one warning. SIGTERM and Ctrl-C are recorded as `failed`/`interrupted`.
///
/// Options (each at most once):
///
/// - `trigger = "manual"` (default `"scheduled"`);
/// - the cron's settings, upserted on start: `schedule = "*/5 * * * *"`,
///   `timezone = "Europe/Paris"`, `timeout = "30m"` (max runtime), `grace = "5m"` (start
///   deadline after the due time), `heartbeat_timeout = "5m"` (longest silence of a running
///   run), `failure_threshold = 3` and `recovery_threshold = 2` (integers: failures in a row
///   that open an incident, successes that resolve it), `anomaly_factor = 3.0` (a run slower
///   than this many times the cron's p95 is flagged), `min_duration = "10s"` (a completed run
///   shorter than this is flagged), `anomaly_incidents = true` (flagged runs count as
///   failures);
/// - `flush_timeout = "10s"`, `crate = "cronmon"` (the facade's path, if renamed).
///
/// Durations are string literals that humantime reads (`"30s"`, `"1h30m"`, `"500ms"`). The
/// values are checked here, at compile time, by the rules the store and the server apply
/// (`cronmon-rules`): a cron expression that does not parse or never fires, an unknown time
/// zone, a duration humantime cannot read, a timeout of 0, a threshold outside 1 to 100 or an
/// anomaly factor outside 1 to 1000 is a compile error on its literal.
///
/// ```ignore
/// #[cronmon::tracked_cron(
///     "nightly-report",
///     schedule = "0 3 * * *",
///     timeout = "30m",
///     failure_threshold = 2,
/// )]
/// #[tokio::main]
/// async fn main() -> anyhow::Result<()> {
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn tracked_cron(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2 = TokenStream2::from(item.clone());
    let args = match syn::parse::<Args>(args) {
        Ok(a) => a,
        Err(e) => return with_error(item2, e),
    };
    let input = match syn::parse::<syn::Item>(item) {
        Ok(syn::Item::Fn(f)) => f,
        Ok(other) => {
            let e = syn::Error::new(
                item_span(&other),
                "#[tracked_cron] goes on a function (sync or async), such as `main`",
            );
            return e.into_compile_error().into();
        }
        Err(e) => return with_error(item2, e),
    };
    match expand(args, input) {
        Ok(t) => t.into(),
        Err(e) => with_error(item2, e),
    }
}

/// The item unchanged plus the error, so one mistake does not cascade into others (and IDEs
/// keep working).
fn with_error(mut item: TokenStream2, e: syn::Error) -> TokenStream {
    item.extend(e.into_compile_error());
    item.into()
}

fn item_span(item: &syn::Item) -> Span {
    match item {
        syn::Item::Struct(i) => i.ident.span(),
        syn::Item::Enum(i) => i.ident.span(),
        syn::Item::Const(i) => i.ident.span(),
        syn::Item::Static(i) => i.ident.span(),
        syn::Item::Mod(i) => i.ident.span(),
        syn::Item::Trait(i) => i.ident.span(),
        syn::Item::Type(i) => i.ident.span(),
        syn::Item::Union(i) => i.ident.span(),
        other => other.span(),
    }
}

#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    trigger: Option<LitStr>,
    timeout_ms: Option<i64>,
    grace_ms: Option<i64>,
    heartbeat_timeout_ms: Option<i64>,
    failure_threshold: Option<i32>,
    recovery_threshold: Option<i32>,
    anomaly_factor: Option<f64>,
    min_duration_ms: Option<i64>,
    anomaly_incidents: Option<bool>,
    schedule: Option<LitStr>,
    timezone: Option<LitStr>,
    flush_timeout_ms: Option<i64>,
    krate: Option<syn::Path>,
    seen: Vec<String>,
}

/// The options, in the order the errors list them.
const OPTION_NAMES: [&str; 13] = [
    "trigger",
    "schedule",
    "timezone",
    "timeout",
    "grace",
    "heartbeat_timeout",
    "failure_threshold",
    "recovery_threshold",
    "anomaly_factor",
    "min_duration",
    "anomaly_incidents",
    "flush_timeout",
    "crate",
];

fn options_list() -> String {
    OPTION_NAMES
        .iter()
        .map(|o| format!("`{o}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        if input.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "missing the cron name: write `#[tracked_cron(\"nightly-report\")]`",
            ));
        }
        if !input.peek(LitStr) {
            return Err(input.error(
                "expected the cron name as a string literal first, as in `#[tracked_cron(\"nightly-report\")]`",
            ));
        }
        let name: LitStr = input.parse()?;
        check(&name, rules::cron_name(&name.value()))?;
        args.name = Some(name);
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key = if input.peek(Token![crate]) {
                let kw: Token![crate] = input.parse()?;
                Ident::new("crate", kw.span)
            } else if input.peek(LitStr) {
                return Err(input.error("the cron name is given once, first"));
            } else {
                input.parse::<Ident>().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        format!("expected an option: one of {}", options_list()),
                    )
                })?
            };
            let key_text = key.to_string();
            if !OPTION_NAMES.contains(&key_text.as_str()) {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown option `{key_text}`; expected one of {}",
                        options_list()
                    ),
                ));
            }
            if args.seen.contains(&key_text) {
                return Err(syn::Error::new(
                    key.span(),
                    format!("duplicate option `{key_text}`"),
                ));
            }
            args.seen.push(key_text.clone());
            input.parse::<Token![=]>()?;
            args.set(&key_text, input)?;
        }
        Ok(args)
    }
}

impl Args {
    /// Reads the value of option `key` (known, not seen before) and checks it.
    fn set(&mut self, key: &str, input: ParseStream<'_>) -> syn::Result<()> {
        match key {
            "failure_threshold" | "recovery_threshold" => {
                let (n, at) = integer(key, input)?;
                let field = if key == "failure_threshold" {
                    "failureThreshold"
                } else {
                    "recoveryThreshold"
                };
                let n = rules::threshold(field, n)
                    .and_then(|()| {
                        i32::try_from(n).map_err(|_| rules::RuleError::new(field, "too large"))
                    })
                    .map_err(|e| refusal(&at, e))?;
                if key == "failure_threshold" {
                    self.failure_threshold = Some(n);
                } else {
                    self.recovery_threshold = Some(n);
                }
            }
            "anomaly_factor" => {
                let (k, at) = number(key, input)?;
                rules::anomaly_factor(k).map_err(|e| refusal(&at, e))?;
                self.anomaly_factor = Some(k);
            }
            "anomaly_incidents" => {
                let value: syn::LitBool = input.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        format!("expected `true` or `false` for `{key}`, as in `{key} = true`"),
                    )
                })?;
                self.anomaly_incidents = Some(value.value);
            }
            _ => self.set_text(key, input)?,
        }
        Ok(())
    }

    /// The options written as string literals.
    fn set_text(&mut self, key: &str, input: ParseStream<'_>) -> syn::Result<()> {
        let value: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected a string literal for `{key}`, as in `{key} = \"…\"`"),
            )
        })?;
        match key {
            "trigger" => {
                if !matches!(value.value().as_str(), "scheduled" | "manual") {
                    return Err(syn::Error::new(
                        value.span(),
                        "`trigger` is \"scheduled\" or \"manual\"",
                    ));
                }
                self.trigger = Some(value);
            }
            "schedule" => {
                check(&value, rules::cron_expression(&value.value()))?;
                self.schedule = Some(value);
            }
            "timezone" => {
                check(&value, rules::timezone(&value.value()))?;
                self.timezone = Some(value);
            }
            "timeout" => {
                let ms = duration_ms(&value, "timeoutMs")?;
                check(&value, rules::timeout_ms(ms))?;
                self.timeout_ms = Some(ms);
            }
            "grace" => {
                let ms = duration_ms(&value, "graceMs")?;
                check(&value, rules::grace_ms(ms))?;
                self.grace_ms = Some(ms);
            }
            "heartbeat_timeout" => {
                let ms = duration_ms(&value, "heartbeatTimeoutMs")?;
                check(&value, rules::heartbeat_timeout_ms(ms))?;
                self.heartbeat_timeout_ms = Some(ms);
            }
            "min_duration" => {
                let ms = duration_ms(&value, "minDurationMs")?;
                // The rule is the one for a run's duration, whose field is `durationMs`.
                check(
                    &value,
                    rules::run_duration_ms(ms)
                        .map_err(|e| rules::RuleError::new("minDurationMs", e.message)),
                )?;
                self.min_duration_ms = Some(ms);
            }
            "flush_timeout" => {
                let ms = duration_ms(&value, "flushTimeoutMs")?;
                check(&value, rules::positive_ms("flushTimeoutMs", ms))?;
                self.flush_timeout_ms = Some(ms);
            }
            "crate" => {
                let path = value.parse::<syn::Path>().map_err(|_| {
                    syn::Error::new(value.span(), "`crate` is a path, such as \"cronmon\"")
                })?;
                self.krate = Some(path);
            }
            other => {
                return Err(syn::Error::new(
                    value.span(),
                    format!("`{other}` does not take a string"),
                ));
            }
        }
        Ok(())
    }
}

/// A number as the attribute writes it: a literal, with a `-` before it if negative (the
/// rules then say why that is refused, rather than the parser saying it is not a literal).
/// Answers the tokens, for errors spanning the sign and the literal.
fn signed<L: Parse + quote::ToTokens>(
    input: ParseStream<'_>,
) -> syn::Result<(bool, L, TokenStream2)> {
    let minus: Option<Token![-]> = input.parse()?;
    let lit: L = input.parse()?;
    let tokens = quote!(#minus #lit);
    Ok((minus.is_some(), lit, tokens))
}

/// An integer option (`failure_threshold = 3`): its value and its tokens.
fn integer(key: &str, input: ParseStream<'_>) -> syn::Result<(i64, TokenStream2)> {
    let (negative, lit, tokens) = signed::<syn::LitInt>(input).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("expected an integer literal for `{key}`, as in `{key} = 3`"),
        )
    })?;
    if !lit.suffix().is_empty() {
        return Err(syn::Error::new_spanned(
            &lit,
            format!("`{key}` is a plain integer, as in `{key} = 3`"),
        ));
    }
    // A literal too large for an i64 is out of every bound: the rule says so.
    let n = lit.base10_parse::<i64>().unwrap_or(i64::MAX);
    Ok((if negative { -n } else { n }, tokens))
}

/// A number option (`anomaly_factor = 3.0`, or `3`): its value and its tokens.
fn number(key: &str, input: ParseStream<'_>) -> syn::Result<(f64, TokenStream2)> {
    let expected = format!("expected a number for `{key}`, as in `{key} = 3.0`");
    let (negative, lit, tokens) =
        signed::<syn::Lit>(input).map_err(|e| syn::Error::new(e.span(), &expected))?;
    let (digits, suffix) = match &lit {
        syn::Lit::Int(i) => (i.base10_digits(), i.suffix()),
        syn::Lit::Float(f) => (f.base10_digits(), f.suffix()),
        _ => return Err(syn::Error::new_spanned(&tokens, expected)),
    };
    if !suffix.is_empty() {
        return Err(syn::Error::new_spanned(
            &lit,
            format!("`{key}` is a plain number, as in `{key} = 3.0`"),
        ));
    }
    // Rust's parser reads any decimal literal (a huge one as infinity, which the rule refuses).
    let k = digits.parse::<f64>().unwrap_or(f64::NAN);
    Ok((if negative { -k } else { k }, tokens))
}

/// A rule's refusal as a compile error on the literal at fault, naming the option as the
/// attribute writes it (the rules name fields as the HTTP API does: `timeoutMs`, …).
fn refusal(value: &impl quote::ToTokens, e: rules::RuleError) -> syn::Error {
    let option = match e.field {
        // The message already says "a cron name …".
        "cronName" => return syn::Error::new_spanned(value, e.message),
        "cronExpression" => "`schedule`",
        "timezone" => "`timezone`",
        "timeoutMs" => "`timeout`",
        "graceMs" => "`grace`",
        "heartbeatTimeoutMs" => "`heartbeat_timeout`",
        "failureThreshold" => "`failure_threshold`",
        "recoveryThreshold" => "`recovery_threshold`",
        "anomalyFactor" => "`anomaly_factor`",
        "minDurationMs" => "`min_duration`",
        "flushTimeoutMs" => "`flush_timeout`",
        other => other,
    };
    syn::Error::new_spanned(value, format!("{option}: {}", e.message))
}

/// Applies a rule to the value of `value`, refusing at compile time.
fn check(value: &LitStr, verdict: rules::Result) -> syn::Result<()> {
    verdict.map_err(|e| refusal(value, e))
}

/// A duration option (`"30s"`, `"5m"`, `"1h30m"`, `"500ms"`, parsed by the rules' humantime),
/// in milliseconds.
fn duration_ms(value: &LitStr, field: &'static str) -> syn::Result<i64> {
    rules::parse_duration_ms(field, &value.value()).map_err(|e| refusal(value, e))
}

enum Shape {
    Unit,
    Result,
    Other,
}

fn shape(ret: &syn::ReturnType) -> Shape {
    match ret {
        syn::ReturnType::Default => Shape::Unit,
        syn::ReturnType::Type(_, ty) => match &**ty {
            syn::Type::Tuple(t) if t.elems.is_empty() => Shape::Unit,
            syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Result") => {
                Shape::Result
            }
            _ => Shape::Other,
        },
    }
}

/// Whether the return type holds an `impl Trait` anywhere (`impl Iterator<Item = u8>`,
/// `Result<impl Display, E>`); such a type cannot be written again inside the body, so the
/// expansion leaves it to inference. Found with syn's visitor, not by reading the type as
/// text (a type named `Pimpl<T>` holds no `impl`).
fn has_impl_trait(ret: &syn::ReturnType) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let syn::ReturnType::Type(_, ty) = ret else {
        return false;
    };
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

fn expand(args: Args, input: ItemFn) -> syn::Result<TokenStream2> {
    if let Some(c) = &input.sig.constness {
        return Err(syn::Error::new(
            c.span(),
            "#[tracked_cron] cannot go on a `const fn`: a run is recorded at run time",
        ));
    }
    let krate = args
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::cronmon));
    let p = quote!(#krate::__private);
    let name = args.name.as_ref().map(LitStr::value).unwrap_or_default();
    let some_str = |v: &Option<LitStr>| match v {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    };
    let some = |v: Option<TokenStream2>| match v {
        Some(t) => quote!(::core::option::Option::Some(#t)),
        None => quote!(::core::option::Option::None),
    };
    let trigger = some_str(&args.trigger);
    let schedule = some_str(&args.schedule);
    let timezone = some_str(&args.timezone);
    let timeout = some(args.timeout_ms.map(|v| quote!(#v)));
    let grace = some(args.grace_ms.map(|v| quote!(#v)));
    let heartbeat_timeout = some(args.heartbeat_timeout_ms.map(|v| quote!(#v)));
    let failure_threshold = some(args.failure_threshold.map(|v| quote!(#v)));
    let recovery_threshold = some(args.recovery_threshold.map(|v| quote!(#v)));
    let anomaly_factor = some(args.anomaly_factor.map(|v| quote!(#v)));
    let min_duration = some(args.min_duration_ms.map(|v| quote!(#v)));
    let anomaly_incidents = some(args.anomaly_incidents.map(|v| quote!(#v)));
    // Checked positive above.
    let flush = some(
        args.flush_timeout_ms
            .map(|ms| ms.unsigned_abs())
            .map(|v| quote!(#v)),
    );

    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = input;
    let describe = match shape(&sig.output) {
        Shape::Unit => quote!(#p::RunEnd::Completed),
        Shape::Result => quote! {
            match __cronmon_value {
                ::core::result::Result::Ok(_) => #p::RunEnd::Completed,
                ::core::result::Result::Err(__cronmon_err) => {
                    #[allow(unused_imports)]
                    use #p::{ViaDisplay as _, ViaError as _};
                    #p::error((&&#p::ErrMsg(__cronmon_err)).cronmon_message())
                }
            }
        },
        Shape::Other => quote! {{
            #[allow(unused_imports)]
            use #p::{ViaReturned as _, ViaRunResult as _};
            (&&#p::Returned(__cronmon_value)).cronmon_end()
        }},
    };
    let start = quote! {
        let __cronmon_run = #p::start(#name, #p::Options {
            trigger: #trigger,
            timeout_ms: #timeout,
            grace_ms: #grace,
            heartbeat_timeout_ms: #heartbeat_timeout,
            failure_threshold: #failure_threshold,
            recovery_threshold: #recovery_threshold,
            anomaly_factor: #anomaly_factor,
            min_duration_ms: #min_duration,
            anomaly_incidents: #anomaly_incidents,
            schedule: #schedule,
            timezone: #timezone,
            flush_timeout_ms: #flush,
            version: ::core::option::Option::Some(::core::env!("CARGO_PKG_VERSION")),
        });
    };
    let end_of = quote! {
        let __cronmon_end = match &__cronmon_out {
            ::core::result::Result::Ok(__cronmon_value) => #describe,
            ::core::result::Result::Err(__cronmon_panic) => #p::panicked(__cronmon_panic),
        };
    };
    let resume = quote! {
        match __cronmon_out {
            ::core::result::Result::Ok(__cronmon_value) => __cronmon_value,
            ::core::result::Result::Err(__cronmon_panic) => ::std::panic::resume_unwind(__cronmon_panic),
        }
    };
    let body_span = block.span();
    let body = if sig.asyncness.is_some() {
        // Pins the async block's output to the declared type, so `?` and `return` inside
        // infer as they would in the function itself (the trick of tracing's #[instrument]).
        let edge = match &sig.output {
            syn::ReturnType::Type(_, ty) if !has_impl_trait(&sig.output) => {
                quote_spanned! {ty.span()=>
                    #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::needless_return, clippy::empty_loop)]
                    if false {
                        let __cronmon_fake: #ty = loop {};
                        return __cronmon_fake;
                    }
                }
            }
            _ => quote!(),
        };
        quote_spanned! {body_span=>
            #start
            let __cronmon_out = #p::CatchUnwind::new(async move { #edge #block }).await;
            #end_of
            #p::end_async(__cronmon_run, __cronmon_end).await;
            #resume
        }
    } else {
        let closure = match &sig.output {
            syn::ReturnType::Type(_, ty) if !has_impl_trait(&sig.output) => {
                quote!(move || -> #ty #block)
            }
            _ => quote!(move || #block),
        };
        quote_spanned! {body_span=>
            #start
            let __cronmon_out = #p::catch_unwind(#closure);
            #end_of
            #p::end(__cronmon_run, __cronmon_end);
            #resume
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    })
}
