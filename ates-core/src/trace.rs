//! One trace across the services (W3C Trace Context).
//!
//! A request's `traceparent` header (or a new trace when it has none)
//! becomes its `request` span; every outbox row written inside that span
//! keeps the span's `traceparent`; the relay sends it as the NATS message's
//! `traceparent` header; a consumer continues it in the `event` span of
//! that message, so the events a consumer writes while applying it carry
//! the same trace id. Both spans record `trace_id`, so log lines inside
//! them show it. Propagation is always on; exporting the spans over OTLP is
//! optional ([`crate::telemetry`]).

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header (and the NATS header) that carries a trace.
pub const TRACEPARENT: &str = "traceparent";

/// Makes `span` a child of the trace `traceparent` names; a missing or
/// malformed one leaves `span` the root of a new trace. Records the
/// span's `trace_id` field.
pub fn continue_trace(span: &Span, traceparent: Option<&str>) {
    if let Some(traceparent) = traceparent {
        let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
        let parent = TraceContextPropagator::new().extract(&carrier);
        if parent.span().span_context().is_valid() {
            // Only fails when the span is disabled (no trace then anyway).
            drop(span.set_parent(parent));
        }
    }
    if let Some(trace_id) = trace_id(span) {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// The `traceparent` of `span` (`00-<trace id>-<span id>-<flags>`), or
/// `None` when it belongs to no trace (a span the subscriber disabled).
pub fn traceparent(span: &Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The `traceparent` of the current span (what an outbox row written now
/// keeps).
pub fn current_traceparent() -> Option<String> {
    traceparent(&Span::current())
}

/// The trace id of `span`, as 32 hex digits.
pub fn trace_id(span: &Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The trace id a `traceparent` names, if it is well formed.
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (_version, trace_id) = (parts.next()?, parts.next()?);
    (trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(trace_id)
}
