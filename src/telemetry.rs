//! OpenTelemetry traces over OTLP/HTTP (issue 15 item 5), when `--otlp-endpoint` is given.
//!
//! The spans are `tracing` spans; `tracing-opentelemetry` turns them into OpenTelemetry spans
//! and the SDK's batch processor sends them, in protobuf, to `{endpoint}/v1/traces`. A trace
//! is: the HTTP request (`request`, in [`crate::http::request_id`], whose parent is the
//! client's W3C `traceparent` when it sent one), the GraphQL operation ([`operation_span`]),
//! each DataLoader batch, one SQL statement a nesting level ([`batch_span`]), and each Partner
//! Center call ([`partner_center_span`], whose `traceparent` goes along with the call).
//!
//! Off by default, and then nothing is paid: no layer is installed, and every span here is
//! [`Span::none`] behind one relaxed atomic load ([`enabled`]).

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use axum::http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Whether spans are exported: set once, when the layer is installed.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported (`--otlp-endpoint` was given and the exporter built).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The path OTLP/HTTP receivers take traces at, below the endpoint.
pub const TRACES_PATH: &str = "/v1/traces";

#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// OpenTelemetry collector to send traces to over OTLP/HTTP (protobuf), e.g.
    /// `http://127.0.0.1:4318`; spans are posted to `{URL}/v1/traces`. Unset: no tracing.
    #[arg(long, env = "BROKERGRAPH_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,

    /// The `service.name` resource attribute of the exported traces.
    #[arg(
        long,
        env = "BROKERGRAPH_OTLP_SERVICE_NAME",
        default_value = "brokergraph",
        global = true
    )]
    pub otlp_service_name: String,
}

/// The traces' URL for an endpoint: the endpoint itself when it already names the traces'
/// path, else that path below it.
fn traces_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.ends_with(TRACES_PATH) {
        endpoint.to_string()
    } else {
        format!("{endpoint}{TRACES_PATH}")
    }
}

/// The exporting pipeline, while it runs; [`Exporting::shutdown`] sends what is left.
pub struct Exporting {
    provider: SdkTracerProvider,
}

impl Exporting {
    /// Flushes the spans not sent yet and stops the exporter (at the end of `serve`).
    pub fn shutdown(self) {
        // On a thread of its own: the exporter's blocking HTTP client must not be used, or
        // dropped, on the async runtime's threads.
        let provider = self.provider;
        let flushed = std::thread::spawn(move || provider.shutdown()).join();
        match flushed {
            Ok(Ok(())) => tracing::debug!("traces flushed"),
            Ok(Err(error)) => tracing::warn!(error = %error, "traces not flushed"),
            Err(_) => tracing::warn!("traces not flushed: the exporter panicked"),
        }
    }
}

/// The `tracing` layer that exports spans, when `args` asks for it (else `None`, and nothing
/// is installed), with what flushes it on shutdown.
pub fn layer<S>(
    args: &TelemetryArgs,
) -> anyhow::Result<
    Option<(
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>,
        Exporting,
    )>,
>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let Some(endpoint) = args
        .otlp_endpoint
        .as_deref()
        .filter(|e| !e.trim().is_empty())
    else {
        return Ok(None);
    };
    let url = traces_url(endpoint);
    let parsed = reqwest::Url::parse(&url)
        .with_context(|| format!("the OTLP endpoint `{endpoint}` is not a URL"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https"),
        "the OTLP endpoint must be an http(s) URL (OTLP/HTTP), got `{endpoint}`"
    );
    use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(url)
        .with_headers(Default::default())
        .build()
        .context("cannot build the OTLP exporter")?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(args.otlp_service_name.clone())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("brokergraph");
    ENABLED.store(true, Ordering::Relaxed);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false);
    Ok(Some((layer, Exporting { provider })))
}

/// Makes `span` (a request's, not yet entered) the child of the client's `traceparent`, when
/// it sent one, and records its trace ID in its `trace_id` field, so that each log line of the
/// request names its trace.
pub fn continue_trace(span: &Span, headers: &HeaderMap) {
    if !enabled() {
        return;
    }
    span.record("otel.kind", "server");
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        // Only fails when the span is not an OpenTelemetry one (it is, once enabled).
        let _ = span.set_parent(parent);
    }
    let context = span.context();
    let trace_id = context.span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));
}

/// The `traceparent` header of a call made now, from the current span; `None` when off.
pub fn inject(headers: &mut HeaderMap) {
    if !enabled() {
        return;
    }
    let context = Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

/// Names `span`'s OpenTelemetry span `name` (tracing-opentelemetry reads `otel.name` only
/// until the span starts).
pub fn rename(span: &Span, name: String) {
    if enabled() {
        span.context().span().update_name(name);
    }
}

/// The span of one GraphQL operation; its outcome is recorded by [`record_operation`].
pub fn operation_span() -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        "graphql operation",
        otel.name = "graphql",
        graphql.operation.name = tracing::field::Empty,
        graphql.operation.type = tracing::field::Empty,
        graphql.outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// Records what a GraphQL operation was, and how it ended, on its [`operation_span`].
pub fn record_operation(span: &Span, name: Option<&str>, ty: &str, outcome: &str) {
    if span.is_none() {
        return;
    }
    let label = match name {
        Some(name) => format!("{ty} {name}"),
        None => ty.to_string(),
    };
    rename(span, label);
    if let Some(name) = name {
        span.record("graphql.operation.name", name);
    }
    span.record("graphql.operation.type", ty);
    span.record("graphql.outcome", outcome);
    span.record(
        "otel.status_code",
        if outcome == "OK" { "OK" } else { "ERROR" },
    );
}

/// The span of one DataLoader batch: the one statement of a relation at a nesting level.
/// `parent`: the table and column of the parent's id, for a list hanging from a parent row.
pub fn batch_span(table: &str, parent: Option<(&str, &str)>, keys: usize) -> Span {
    if !enabled() {
        return Span::none();
    }
    let parent = parent.map(|(table, column)| format!("{table}.{column}"));
    tracing::info_span!(
        "sql batch",
        otel.name = format!("batch {table}").as_str(),
        db.collection.name = table,
        batch.parent = parent.as_deref(),
        batch.keys = keys,
    )
}

/// The span of one Partner Center call (its retries included); its outcome is recorded by
/// [`record_outcome`].
pub fn partner_center_span(operation: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        "partner center call",
        otel.name = format!("partner_center {operation}").as_str(),
        otel.kind = "client",
        partner_center.operation = operation,
        partner_center.outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// Records how a call ended (`OK` or its error's code) on its span.
pub fn record_outcome(span: &Span, outcome: &str) {
    if span.is_none() {
        return;
    }
    span.record("partner_center.outcome", outcome);
    span.record(
        "otel.status_code",
        if outcome == "OK" { "OK" } else { "ERROR" },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once() {
        for endpoint in [
            "http://127.0.0.1:4318",
            "http://127.0.0.1:4318/",
            "http://127.0.0.1:4318/v1/traces",
        ] {
            assert_eq!(traces_url(endpoint), "http://127.0.0.1:4318/v1/traces");
        }
        assert_eq!(
            traces_url("https://otel.example.com/collector"),
            "https://otel.example.com/collector/v1/traces"
        );
    }

    #[test]
    fn nothing_is_made_while_off() {
        assert!(!enabled());
        assert!(operation_span().is_none());
        assert!(batch_span("brokers", None, 3).is_none());
        assert!(partner_center_span("get_customer").is_none());
        let mut headers = HeaderMap::new();
        inject(&mut headers);
        assert!(headers.is_empty());
    }
}
