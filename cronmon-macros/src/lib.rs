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
/// Options, all string literals: `trigger = "manual"` (default `"scheduled"`),
/// `schedule = "*/5 * * * *"`, `timezone = "Europe/Paris"`, `timeout = "30m"`,
/// `grace = "5m"` (upserted as the cron's settings on start), `flush_timeout = "10s"`,
/// `crate = "cronmon"` (the facade's path, if renamed). The values are checked here, at
/// compile time, by the rules the store and the server apply (`cronmon-rules`): a cron
/// expression that does not parse or never fires, an unknown time zone, a duration humantime
/// cannot read or a timeout of 0 is a compile error on its literal.
///
/// ```ignore
/// #[cronmon::tracked_cron("nightly-report", schedule = "0 3 * * *", timeout = "30m")]
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
    timeout_ms: Option<(Ident, i64)>,
    grace_ms: Option<(Ident, i64)>,
    schedule: Option<LitStr>,
    timezone: Option<LitStr>,
    flush_timeout_ms: Option<(Ident, i64)>,
    krate: Option<syn::Path>,
    seen: Vec<String>,
}

const OPTIONS: &str =
    "`trigger`, `schedule`, `timezone`, `timeout`, `grace`, `flush_timeout`, `crate`";

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
                    syn::Error::new(e.span(), format!("expected an option: one of {OPTIONS}"))
                })?
            };
            let key_text = key.to_string();
            if !matches!(
                key_text.as_str(),
                "trigger"
                    | "schedule"
                    | "timezone"
                    | "timeout"
                    | "grace"
                    | "flush_timeout"
                    | "crate"
            ) {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown option `{key_text}`; expected one of {OPTIONS}"),
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
            let value: LitStr = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!(
                        "expected a string literal for `{key_text}`, as in `{key_text} = \"…\"`"
                    ),
                )
            })?;
            match key_text.as_str() {
                "trigger" => {
                    if !matches!(value.value().as_str(), "scheduled" | "manual") {
                        return Err(syn::Error::new(
                            value.span(),
                            "`trigger` is \"scheduled\" or \"manual\"",
                        ));
                    }
                    args.trigger = Some(value);
                }
                "schedule" => {
                    check(&value, rules::cron_expression(&value.value()))?;
                    args.schedule = Some(value);
                }
                "timezone" => {
                    check(&value, rules::timezone(&value.value()))?;
                    args.timezone = Some(value);
                }
                "timeout" => {
                    let ms = duration_ms(&value, "timeoutMs")?;
                    check(&value, rules::timeout_ms(ms))?;
                    args.timeout_ms = Some((key, ms));
                }
                "grace" => {
                    let ms = duration_ms(&value, "graceMs")?;
                    check(&value, rules::grace_ms(ms))?;
                    args.grace_ms = Some((key, ms));
                }
                "flush_timeout" => {
                    let ms = duration_ms(&value, "flushTimeoutMs")?;
                    check(&value, rules::positive_ms("flushTimeoutMs", ms))?;
                    args.flush_timeout_ms = Some((key, ms));
                }
                "crate" => {
                    let path = value.parse::<syn::Path>().map_err(|_| {
                        syn::Error::new(value.span(), "`crate` is a path, such as \"cronmon\"")
                    })?;
                    args.krate = Some(path);
                }
                _ => unreachable!("checked above"),
            }
        }
        Ok(args)
    }
}

/// A rule's refusal as a compile error on the literal at fault, naming the option as the
/// attribute writes it (the rules name fields as the HTTP API does: `timeoutMs`, …).
fn refusal(value: &LitStr, e: rules::RuleError) -> syn::Error {
    let option = match e.field {
        // The message already says "a cron name …".
        "cronName" => return syn::Error::new(value.span(), e.message),
        "cronExpression" => "`schedule`",
        "timezone" => "`timezone`",
        "timeoutMs" => "`timeout`",
        "graceMs" => "`grace`",
        "flushTimeoutMs" => "`flush_timeout`",
        other => other,
    };
    syn::Error::new(value.span(), format!("{option}: {}", e.message))
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
    let some_ms = |v: &Option<(Ident, i64)>| match v {
        Some((_, ms)) => quote!(::core::option::Option::Some(#ms)),
        None => quote!(::core::option::Option::None),
    };
    let trigger = some_str(&args.trigger);
    let schedule = some_str(&args.schedule);
    let timezone = some_str(&args.timezone);
    let timeout = some_ms(&args.timeout_ms);
    let grace = some_ms(&args.grace_ms);
    let flush = match &args.flush_timeout_ms {
        Some((_, ms)) => {
            let ms = *ms as u64;
            quote!(::core::option::Option::Some(#ms))
        }
        None => quote!(::core::option::Option::None),
    };

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
