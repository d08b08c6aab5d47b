//! What the logs of a running shop hold: no colour codes in a file, no cookie at trace level,
//! no ERROR for a client that hung up mid-request.

use flashsale_core::SignCodec;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Regression (issue 14, findings 9 and 11): at `-vv` the header trace logged whole `sign`
/// cookies, a client dropping mid-headers logged an ERROR, and logs written to a file carried
/// ANSI colour codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_9_a_trace_log_file_has_no_colour_codes_no_sign_and_no_disconnect_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = flashsale_core::config::random_secret();
    let log_path = dir.path().join("flashsale.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_flashsale"));
    for (key, _) in std::env::vars() {
        if key.starts_with("FLASHSALE_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(["-vv", "up"])
        .current_dir(dir.path())
        .env("FLASHSALE_GATEWAY_LISTEN", "127.0.0.1:0")
        .env("FLASHSALE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("FLASHSALE_COOKIE_SECRET", &secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start flashsale up");
    let gateway = flashsale_testkit::read_until(&mut child, "Ctrl-C")
        .unwrap_or_else(|printed| panic!("the shop did not start:\n{printed}"))
        .addr("gateway");

    let sign =
        SignCodec::new(1, secret.as_bytes()).issue(1, flashsale_core::domain::now_unix() + 3600);
    let client = reqwest::Client::new();
    for _ in 0..3 {
        client
            .post(format!("http://{gateway}/getOne?productID=1"))
            .header("Cookie", format!("uid=1; sign={sign}"))
            .send()
            .await
            .expect("buy");
    }
    // Clients that hang up halfway through their headers.
    for _ in 0..5 {
        let mut stream = tokio::net::TcpStream::connect(&gateway)
            .await
            .expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nCookie: sign=")
            .await
            .expect("half a request");
        drop(stream);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let text = std::fs::read_to_string(&log_path).expect("read the log");
    assert!(text.contains("TRACE"), "the log is at trace level");
    assert!(!text.contains('\u{1b}'), "colour codes in a log file");
    let leaks: Vec<String> = text
        .lines()
        .filter(|l| l.contains(&sign))
        .map(|l| l.replace(&sign, "<SIGN>"))
        .collect();
    assert!(
        leaks.is_empty(),
        "the sign cookie is in the log: {leaks:#?}"
    );
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "ERROR lines: {errors:#?}");
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_flashsale"));
    for (key, _) in std::env::vars() {
        if key.starts_with("FLASHSALE_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    let out = command
        .args(["-v", "migrate"])
        .current_dir(dir.path())
        .env("FLASHSALE_LOG_FORMAT", "json")
        .env(
            "FLASHSALE_COOKIE_SECRET",
            flashsale_core::config::random_secret(),
        )
        .output()
        .expect("run flashsale migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "no log lines at -v");
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value["level"].is_string(), "{line}");
    }
}
