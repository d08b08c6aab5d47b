//! Load from Debian's `wrk` with a Lua script that acts as many distinct shoppers, bounded in
//! time (and, in `stop` mode, by the number of shoppers), and what it measured.

use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The Lua script every run uses (see its header for its arguments).
const SCRIPT: &str = include_str!("shoppers.lua");
/// wrk threads: one per core of the machines this runs on; more only adds switching.
const THREADS: u32 = 2;

/// What one wrk run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    pub requests: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Connect, read, write errors and timeouts.
    pub errors: u64,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
}

/// The run with the median rate (of several runs of one measurement).
pub fn median(mut runs: Vec<Load>) -> Load {
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    runs.swap_remove(runs.len() / 2)
}

/// Each run's rate, for a note: `41,248, 45,147, 40,776`.
pub fn rates(runs: &[Load]) -> String {
    let rates: Vec<String> = runs
        .iter()
        .map(|l| crate::table::thousands(l.rate()))
        .collect();
    rates.join(", ")
}

impl Load {
    /// Buys answered per second (not counting the health checks a thread sends while it
    /// waits for its last answers).
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.answered() as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn answered(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Answers with `status`.
    pub fn count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Answers other than `expect`, and errors.
    pub fn unexpected(&self, expect: u16) -> u64 {
        self.answered() - self.count(expect) + self.errors
    }

    /// "12 unexpected (429 x10, errors x2)", or empty when every answer was `expect`.
    pub fn unexpected_note(&self, expect: u16) -> String {
        if self.unexpected(expect) == 0 {
            return String::new();
        }
        let mut parts: Vec<String> = self
            .statuses
            .iter()
            .filter(|(s, _)| **s != expect)
            .map(|(s, n)| format!("{s} x{n}"))
            .collect();
        if self.errors > 0 {
            parts.push(format!("errors x{}", self.errors));
        }
        format!(
            "{} unexpected ({})",
            self.unexpected(expect),
            parts.join(", ")
        )
    }
}

/// Reads the `RESULT` and `STATUS` lines the script prints.
pub fn parse(stdout: &str) -> anyhow::Result<Load> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| anyhow::anyhow!("wrk printed no RESULT line: {stdout}"))?;
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read wrk's result line: {line}"))?;
    anyhow::ensure!(f.len() == 5, "cannot read wrk's result line: {line}");
    let mut statuses = BTreeMap::new();
    for line in stdout.lines().filter(|l| l.starts_with("STATUS ")) {
        let mut words = line.split_whitespace().skip(1);
        let (Some(status), Some(count), None) = (words.next(), words.next(), words.next()) else {
            anyhow::bail!("cannot read wrk's status line: {line}");
        };
        let status: u16 = status
            .parse()
            .with_context(|| format!("cannot read wrk's status line: {line}"))?;
        let count: u64 = count
            .parse()
            .with_context(|| format!("cannot read wrk's status line: {line}"))?;
        *statuses.entry(status).or_insert(0) += count;
    }
    Ok(Load {
        requests: f[0] as u64,
        seconds: f[1],
        p50_ms: f[2],
        p99_ms: f[3],
        errors: f[4] as u64,
        statuses,
    })
}

/// Whether shoppers start again from the first when they run out, or the run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shoppers {
    /// Each shopper once: the run ends when they run out (or the time is up).
    Once,
    /// Round and round until the time is up.
    Cycle,
}

/// wrk's settings for a series of runs.
pub struct Wrk {
    script: PathBuf,
    dir: PathBuf,
    pub seconds: u64,
    pub connections: u32,
}

impl Wrk {
    /// Checks that wrk is installed and writes the script into `dir`.
    pub fn new(dir: &Path, seconds: u64, connections: u32) -> anyhow::Result<Wrk> {
        anyhow::ensure!(
            std::process::Command::new("wrk")
                .arg("--version")
                .output()
                .is_ok(),
            "wrk is not installed (Debian: apt-get install wrk)"
        );
        let script = dir.join("shoppers.lua");
        std::fs::write(&script, SCRIPT)
            .with_context(|| format!("cannot write {}", script.display()))?;
        Ok(Wrk {
            script,
            dir: dir.to_path_buf(),
            seconds,
            connections,
        })
    }

    /// `GET path` at `addr` over and over with `script` (`static.lua`), sending
    /// `Accept-Encoding: {encoding}` unless it is empty. Bounded by `seconds`.
    pub fn get(
        &self,
        script: &Path,
        url: &str,
        path: &str,
        encoding: &str,
    ) -> anyhow::Result<Load> {
        let out = std::process::Command::new("wrk")
            .args(["-t", &THREADS.to_string()])
            .args(["-c", &self.connections.to_string()])
            .args(["-d", &format!("{}s", self.seconds)])
            .args(["--timeout", "5s", "-s"])
            .arg(script)
            .arg(url)
            .arg("--")
            .args([path, encoding])
            .output()
            .context("cannot run wrk")?;
        parse(&String::from_utf8_lossy(&out.stdout)).with_context(|| {
            format!(
                "wrk against {url}{path} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// `POST path` at `addr` by the shoppers of `cookies` (one `Cookie` header a line).
    /// Blocks for the run: call it from `spawn_blocking` when something must run beside it.
    pub fn post(
        &self,
        addr: &str,
        path: &str,
        cookies: &Path,
        shoppers: Shoppers,
    ) -> anyhow::Result<Load> {
        self.send(addr, "POST", path, cookies, shoppers)
    }

    /// `method path` at `addr` by the shoppers of `lines`: one `Cookie` header a line, and
    /// after a tab, a form body for that shopper's request.
    pub fn send(
        &self,
        addr: &str,
        method: &str,
        path: &str,
        lines: &Path,
        shoppers: Shoppers,
    ) -> anyhow::Result<Load> {
        let done = tempfile::Builder::new()
            .prefix("wrk-done")
            .tempdir_in(&self.dir)?;
        let mut wrk = std::process::Command::new("wrk")
            .args(["-t", &THREADS.to_string()])
            .args(["-c", &self.connections.to_string()])
            .args(["-d", &format!("{}s", self.seconds)])
            .args(["--timeout", "5s", "-s"])
            .arg(&self.script)
            .arg(format!("http://{addr}"))
            .arg("--")
            .arg(lines)
            .arg(path)
            .arg(THREADS.to_string())
            .arg(match shoppers {
                Shoppers::Once => "stop",
                Shoppers::Cycle => "cycle",
            })
            .arg(done.path())
            .arg(method)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run wrk")?;
        // Every thread done before -d: end wrk now (see `finish` in the script).
        let mut interrupted = false;
        while wrk.try_wait()?.is_none() {
            if !interrupted && std::fs::read_dir(done.path())?.count() >= THREADS as usize {
                interrupted = true;
                let _ = std::process::Command::new("kill")
                    .args(["-INT", &wrk.id().to_string()])
                    .status();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = wrk.wait_with_output()?;
        parse(&String::from_utf8_lossy(&out.stdout)).with_context(|| {
            format!(
                "wrk against {addr}{path} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_run_is_the_middle_rate() {
        let run = |requests: u64| {
            parse(&format!(
                "RESULT {requests} 1.0 1.0 2.0 0\nSTATUS 200 {requests}\n"
            ))
            .expect("parses")
        };
        let runs = vec![run(300), run(100), run(200)];
        assert_eq!(rates(&runs), "300, 100, 200");
        assert_eq!(median(runs).rate(), 200.0);
    }

    const OUTPUT: &str =
        "Running 10s test @ http://127.0.0.1:4000\n  2 threads and 64 connections\n\
        RESULT 912345 10.002000 0.512000 2.345000 3\nSTATUS 429 912000\nSTATUS 202 1\n\
        STATUS 410 341\n";

    #[test]
    fn reads_rate_latency_and_answers_by_status() {
        let load = parse(OUTPUT).expect("parses");
        assert_eq!(load.requests, 912_345);
        assert_eq!(load.answered(), 912_342);
        assert!((load.rate() - 912_342.0 / 10.002).abs() < 1e-6);
        assert_eq!(load.p50_ms, 0.512);
        assert_eq!(load.p99_ms, 2.345);
        assert_eq!(load.errors, 3);
        assert_eq!(load.count(429), 912_000);
        assert_eq!(load.count(503), 0);
        assert_eq!(load.unexpected(429), 1 + 341 + 3);
        assert_eq!(
            load.unexpected_note(429),
            "345 unexpected (202 x1, 410 x341, errors x3)"
        );
    }

    #[test]
    fn all_as_expected_has_no_note() {
        let load = parse("RESULT 10 1.0 0.1 0.2 0\nSTATUS 202 10\n").expect("parses");
        assert_eq!(load.unexpected(202), 0);
        assert_eq!(load.unexpected_note(202), "");
    }

    #[test]
    fn a_run_without_result_line_is_an_error_that_shows_the_output() {
        let err =
            parse("unable to connect to 127.0.0.1:1 Connection refused\n").expect_err("no result");
        assert!(err.to_string().contains("Connection refused"), "{err}");
    }

    #[test]
    fn malformed_lines_are_errors_not_zeros() {
        assert!(parse("RESULT 10 1.0 0.1\n").is_err());
        assert!(parse("RESULT 10 1.0 0.1 x 0\n").is_err());
        assert!(parse("RESULT 10 1.0 0.1 0.2 0\nSTATUS 202\n").is_err());
        assert!(parse("RESULT 10 1.0 0.1 0.2 0\nSTATUS two 1\n").is_err());
    }

    #[test]
    fn zero_seconds_is_a_zero_rate_not_infinity() {
        let load = parse("RESULT 0 0 0 0 0\n").expect("parses");
        assert_eq!(load.rate(), 0.0);
    }
}
