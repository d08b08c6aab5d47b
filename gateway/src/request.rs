//! Reading what the shopper sent: cookies, query parameters, a bounded form body.

use bytes::BytesMut;
use pingora::proxy::Session;
use std::net::IpAddr;

/// Forms are small; anything bigger is refused before it is buffered.
pub const MAX_FORM_BYTES: usize = 8 * 1024;

/// The value of cookie `name` in a `Cookie` header (as sent: our values need no decoding).
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    ::cookie::Cookie::split_parse(header)
        .filter_map(Result::ok)
        .find(|c| c.name_raw() == Some(name))
        .and_then(|c| c.value_raw())
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the last address in
/// `X-Forwarded-For` that is not itself a trusted proxy (earlier entries are the client's own
/// claims and could be forged). Unknown peers (a Unix socket) count as 0.0.0.0.
pub fn client_ip(session: &Session, trusted: &[ipnet::IpNet]) -> IpAddr {
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = session
        .req_header()
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

/// The first value of query parameter `name`.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    Read(Box<pingora::Error>),
}

/// Reads the whole request body, refusing more than `limit` bytes.
pub async fn read_body(session: &mut Session, limit: usize) -> Result<BytesMut, BodyError> {
    let declared = session
        .req_header()
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = session.read_request_body().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = "a=1; uid=42; sign=abc-_; xuid=7";
        assert_eq!(cookie(h, "uid"), Some("42"));
        assert_eq!(cookie(h, "sign"), Some("abc-_"));
        assert_eq!(cookie(h, "id"), None);
        assert_eq!(cookie("", "uid"), None);
    }

    #[test]
    fn query_and_form_values_are_decoded() {
        assert_eq!(
            query_param("productID=12&x=1", "productID").as_deref(),
            Some("12")
        );
        assert_eq!(query_param("x=1", "productID"), None);
        let f = Form::parse(b"userName=a%20b&password=p%26w+d");
        assert_eq!(f.get("userName"), "a b");
        assert_eq!(f.get("password"), "p&w d");
        assert_eq!(f.get("missing"), "");
    }
}
