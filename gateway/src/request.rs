//! Reading what the shopper sent: cookies, query parameters, a bounded form body.

use bytes::BytesMut;
use pingora::proxy::Session;
use std::borrow::Cow;
use std::net::IpAddr;

/// Forms are small; anything bigger is refused before it is buffered.
pub const MAX_FORM_BYTES: usize = 8 * 1024;

/// The value of cookie `name` in a `Cookie` header (as sent: our values need no decoding).
/// Read as the `cookie` crate's `split_parse` reads it (pairs split at `;`, name and value
/// trimmed, a pair without `=` skipped), without building a cookie per pair: every Buy reads
/// two or three cookies.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let [value] = cookies(header, [name]);
    value
}

/// The values of the cookies `names` in a `Cookie` header, read as [`cookie`] reads one, in
/// one pass over the header.
pub fn cookies<'a, const N: usize>(header: &'a str, names: [&str; N]) -> [Option<&'a str>; N] {
    let mut found = [None; N];
    for pair in header.split(';') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let key = key.trim();
        for (name, slot) in names.iter().zip(found.iter_mut()) {
            if slot.is_none() && key == *name {
                *slot = Some(value.trim());
            }
        }
    }
    found
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

/// The first value of query parameter `name` (borrowed from `query` unless it was encoded).
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    if !query.contains(['%', '+']) {
        // Nothing to decode (a Buy's `productID=12`): the pairs as form_urlencoded splits them.
        return query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(Cow::Borrowed(value))
        });
    }
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
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
    fn cookies_are_read_as_the_cookie_crate_reads_them() {
        let headers = [
            "uid=42; sign=abc",
            "  uid = 42 ;sign= abc ; ",
            "uid=; sign=a=b",
            "junk; uid=7; =x; sign",
            "sign=\"quoted\"; uid=1;;",
            "uid=1; uid=2",
            "xuid=1; uidx=2; Uid=3",
            "\tuid\t=\t5\t",
        ];
        for header in headers {
            for name in ["uid", "sign", "Uid"] {
                let crate_reads = ::cookie::Cookie::split_parse(header)
                    .filter_map(Result::ok)
                    .find(|c| c.name_raw() == Some(name))
                    .and_then(|c| c.value_raw());
                assert_eq!(cookie(header, name), crate_reads, "{header:?} {name}");
            }
            assert_eq!(
                cookies(header, ["uid", "sign"]),
                [cookie(header, "uid"), cookie(header, "sign")],
                "{header:?}"
            );
        }
    }

    #[test]
    fn query_and_form_values_are_decoded() {
        assert_eq!(
            query_param("productID=12&x=1", "productID").as_deref(),
            Some("12")
        );
        assert_eq!(query_param("x=1", "productID"), None);
        // The shortcut for text with nothing to decode reads as form_urlencoded does.
        for query in [
            "productID=12",
            "a=1&productID=2&productID=3",
            "&&productID=&x",
            "productID",
            "productID=1=2",
            "productid=1&ProductID=2",
            "",
            "productID=%31",
            "product%49D=7",
            "productID=1+2",
        ] {
            let decoded = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "productID")
                .map(|(_, v)| v.into_owned());
            assert_eq!(
                query_param(query, "productID").map(Cow::into_owned),
                decoded,
                "{query:?}"
            );
        }
        let f = Form::parse(b"userName=a%20b&password=p%26w+d");
        assert_eq!(f.get("userName"), "a b");
        assert_eq!(f.get("password"), "p&w d");
        assert_eq!(f.get("missing"), "");
    }
}
