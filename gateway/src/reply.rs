//! A response built by a handler, and how it is written to the shopper.
//!
//! Every generated response carries `Content-Length`: without it pingora ends the body by
//! closing the connection, which defeats keep-alive.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use std::borrow::Cow;

/// Sent with every answer (deploy/nginx.conf sends the same with the static files): no type
/// sniffing; scripts, styles and forms only from the shop itself (the templates have no inline
/// script or style; product images may be anywhere); no referrer beyond the shop.
pub const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: https: http:; style-src 'self'; \
         script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'",
    ),
    ("Referrer-Policy", "same-origin"),
];

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: Bytes,
    /// The `result` word of a JSON answer, for metrics.
    result: &'static str,
    /// The response header [`Reply::response_header`] makes of this reply, made before (see
    /// [`Reply::with_head`]); [`Reply::header`] and [`Reply::body`] drop it. Only `buy` sets
    /// it, on answers nobody changes afterwards but through those two.
    head: Option<&'static ResponseHeader>,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            result: "",
            head: None,
        }
    }

    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Reply::json_bytes(status, value.to_string().into())
    }

    /// A JSON answer whose body is already written.
    pub fn json_bytes(status: u16, body: Bytes) -> Self {
        Reply::new(status)
            .header("Content-Type", "application/json")
            .header("Cache-Control", "no-store")
            .body(body)
    }

    /// A short page for a browser that posted a form.
    pub fn page(status: u16, title: &str, message: &str, back: &str) -> Self {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title>\
             <link rel=\"stylesheet\" href=\"/static/style.css\"></head><body><main class=\"notice\">\
             <h1>{t}</h1><p>{m}</p><p><a href=\"{b}\">Back</a></p></main></body></html>",
            t = flashsale_core::html::escape(title),
            m = flashsale_core::html::escape(message),
            b = flashsale_core::html::escape(back)
        );
        Reply::new(status)
            .header("Content-Type", "text/html; charset=utf-8")
            .header("Cache-Control", "no-store")
            .body(body)
    }

    pub fn see_other(location: &str) -> Self {
        Reply::new(303)
            .header("Location", location.to_string())
            .header("Cache-Control", "no-store")
    }

    pub fn text(status: u16, text: &str) -> Self {
        Reply::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(text.to_string())
    }

    /// Tags the reply with its `result` word (counted by the metrics).
    pub fn result_word(mut self, result: &'static str) -> Self {
        self.result = result;
        self
    }

    pub fn result(&self) -> &'static str {
        self.result
    }

    /// Adds a header (several `Set-Cookie` may go out).
    pub fn header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.headers.push((name, value.into()));
        self.head = None;
        self
    }

    /// Sets a header, replacing any of that name added before.
    pub fn replace_header(
        mut self,
        name: &'static str,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.header(name, value)
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self.head = None;
        self
    }

    /// Sends `head` as this reply's response header instead of making one. `head` must be what
    /// [`Reply::response_header`] made of a reply equal to this one: an answer sent again and
    /// again unchanged (a refused Buy) keeps its header made once, since pingora parses every
    /// name and copies every value it is given, which costs more than the rest of a refusal.
    pub fn with_head(mut self, head: &'static ResponseHeader) -> Self {
        self.head = Some(head);
        self
    }

    /// The response header this reply goes out with: its status and headers, `Content-Length`,
    /// and the security headers it does not set itself.
    pub fn response_header(&self) -> pingora::Result<ResponseHeader> {
        let mut header = ResponseHeader::build(
            self.status,
            Some(self.headers.len() + 1 + SECURITY_HEADERS.len()),
        )?;
        for (name, value) in &self.headers {
            header.append_header(*name, value.as_ref())?;
        }
        header.insert_header("Content-Length", self.body.len().to_string())?;
        for (name, value) in SECURITY_HEADERS {
            if !header.headers.contains_key(name) {
                header.insert_header(name, value)?;
            }
        }
        Ok(header)
    }

    /// The response header [`Reply::send`] writes: the one made before, or a new one.
    pub fn header_to_send(&self) -> pingora::Result<ResponseHeader> {
        match self.head {
            Some(head) => Ok(head.clone()),
            None => self.response_header(),
        }
    }

    /// Writes the reply; for `HEAD` only the headers (with the body's length).
    pub async fn send(self, session: &mut Session, head_only: bool) -> pingora::Result<()> {
        let header = self.header_to_send()?;
        let no_body = head_only || self.body.is_empty();
        session
            .write_response_header(Box::new(header), no_body)
            .await?;
        if !no_body {
            session.write_response_body(Some(self.body), true).await?;
        }
        Ok(())
    }
}
