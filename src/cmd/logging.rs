//! Where the logs go and what never appears in them.
//!
//! - Colour codes only when stderr is a terminal: a log file or a pipe gets plain text.
//! - `log_format = "json"`: one JSON object per line, for a log pipeline.
//! - Header dumps are dropped at every level: pingora traces each request header (and each
//!   header it forwards to a ring peer) whole, with the shopper's `sign` cookie in it.
//! - A client that goes away before its request arrived is routine, not an ERROR: pingora
//!   reports it as "Fail to proxy" with a downstream error; it is dropped.

use std::io::IsTerminal;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// `log_format` from config: "json", or plain text for anything else.
    pub fn from_config(value: &str) -> Format {
        if value.eq_ignore_ascii_case("json") {
            Format::Json
        } else {
            Format::Text
        }
    }
}

pub fn init(verbose: u8, format: Format) {
    // lapin reports every dropped connection as ERROR, our own clean closes included; the
    // queue module logs each real failure with what happens next, so lapin is quiet unless
    // RUST_LOG asks for it.
    let default = match verbose {
        0 => "info,pingora=warn,pingora_core=warn,pingora_proxy=warn,sqlx=warn,lapin=off",
        1 => "debug,pingora_core=info,pingora_proxy=info,sqlx=info,lapin=warn",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(filter).with(Redact);
    let _ = match format {
        Format::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        Format::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_ansi(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

/// Drops the events that would leak a cookie or report a client's own disconnect as an error.
struct Redact;

impl<S: Subscriber> Layer<S> for Redact {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let mut fields = Fields::default();
        event.record(&mut fields);
        // pingora logs through the `log` crate: its events arrive with target "log" and the
        // real target in the field `log.target`.
        let target = fields
            .log_target
            .as_deref()
            .unwrap_or(event.metadata().target());
        !target.starts_with("pingora") || keep(target, *event.metadata().level(), &fields.message)
    }
}

/// Whether a pingora log line may be written.
fn keep(target: &str, level: Level, message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    // "Request header: …", "Writing request header: …", and anything else carrying cookies.
    if lower.contains("request header") || lower.contains("cookie") {
        return false;
    }
    !(target.starts_with("pingora_proxy")
        && level == Level::ERROR
        && message.starts_with("Fail to proxy")
        && message.contains("Downstream"))
}

#[derive(Default)]
struct Fields {
    message: String,
    log_target: Option<String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "log.target" => self.log_target = Some(format!("{value:?}")),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "log.target" => self.log_target = Some(value.to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_dumps_and_client_disconnects_are_dropped() {
        assert!(!keep(
            "pingora_proxy",
            Level::TRACE,
            "Request header: RequestHeader { headers: {\"cookie\": \"sign=abc\"} }"
        ));
        assert!(!keep(
            "pingora_core::protocols::http::v1::client",
            Level::TRACE,
            "Writing request header: b\"POST /getOne\""
        ));
        assert!(!keep(
            "pingora_proxy",
            Level::ERROR,
            "Fail to proxy: Downstream ConnectionClosed context: Peer: 127.0.0.1:5000, downstream session type: HTTP/1.1"
        ));
        assert!(keep(
            "pingora_proxy",
            Level::ERROR,
            "Fail to proxy: Upstream ConnectRefused"
        ));
        assert!(keep("pingora_core", Level::WARN, "listener failed"));
    }
}
