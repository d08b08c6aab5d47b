//! Single HTTP/1.1 requests for setting up and checking a run (the load itself is wrk's).

use anyhow::Context;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The status of one request, sent on a fresh connection.
pub async fn status(addr: &str, method: &str, path: &str, cookie: &str) -> anyhow::Result<u16> {
    Ok(answer(addr, method, path, cookie).await?.0)
}

/// The status and body of one request, sent on a fresh connection.
pub async fn answer(
    addr: &str,
    method: &str,
    path: &str,
    cookie: &str,
) -> anyhow::Result<(u16, String)> {
    let asking = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let cookie = if cookie.is_empty() {
            String::new()
        } else {
            format!("Cookie: {cookie}\r\n")
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), asking)
        .await
        .with_context(|| format!("{addr} did not answer {method} {path} in 5 s"))??;
    let status = status_of(&answer)
        .with_context(|| format!("{addr} gave no HTTP answer to {method} {path}"))?;
    let text = String::from_utf8_lossy(&answer);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// The status code of an HTTP/1.1 answer.
fn status_of(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|b| *b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Waits (up to 30 s) until `addr` answers `GET /healthz` with `expect`.
pub async fn wait_until_healthy(addr: &str, expect: u16) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if status(addr, "GET", "/healthz", "").await.ok() == Some(expect) {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "{addr} did not become healthy in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_line() {
        assert_eq!(
            status_of(b"HTTP/1.1 429 Too Many\r\nA: b\r\n\r\n"),
            Some(429)
        );
        assert_eq!(status_of(b"HTTP/1.0 200 OK\r\n"), None);
        assert_eq!(status_of(b""), None);
    }
}
