//! Running wrk with a Lua script that ends by printing
//! `RESULT <requests> <seconds> <p50 ms> <p99 ms> <unexpected answers>`.

use crate::buy::Load;
use std::path::Path;

pub(crate) struct Args<'a> {
    pub(crate) script: &'a Path,
    pub(crate) url: &'a str,
    pub(crate) seconds: u64,
    pub(crate) connections: u32,
    /// Handed to the script's `init(args)`.
    pub(crate) script_args: &'a [&'a str],
}

/// Two wrk threads: the load generator shares the machine's cores with the server.
pub(crate) fn run(args: &Args<'_>) -> anyhow::Result<Load> {
    let out = std::process::Command::new("wrk")
        .args(["-t", "2", "-c", &args.connections.to_string()])
        .args(["-d", &format!("{}s", args.seconds), "--timeout", "5s", "-s"])
        .arg(args.script)
        .arg(args.url)
        .arg("--")
        .args(args.script_args)
        .output()?;
    parse(
        &String::from_utf8_lossy(&out.stdout),
        &String::from_utf8_lossy(&out.stderr),
    )
}

pub(crate) fn parse(stdout: &str, stderr: &str) -> anyhow::Result<Load> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| anyhow::anyhow!("wrk printed no result: {stdout} {stderr}"))?;
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    anyhow::ensure!(f.len() == 5, "cannot read wrk's result line: {line}");
    Ok(Load {
        requests: f[0] as u64,
        seconds: f[1],
        p50_ms: f[2],
        p99_ms: f[3],
        wrong: f[4] as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_result_line() {
        let load = parse("Running 1s test\nRESULT 1000 2.0 0.5 3.25 7\n", "").expect("parse");
        assert_eq!(load.requests, 1000);
        assert_eq!(load.rate(), 500.0);
        assert_eq!((load.p50_ms, load.p99_ms, load.wrong), (0.5, 3.25, 7));
        assert!(parse("no result", "boom").is_err());
    }
}
