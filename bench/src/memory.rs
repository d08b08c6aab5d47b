//! Section 7: the memory of a `flashsale gateway` process (its resident set, from /proc),
//! idle and then holding the cooldown of many distinct shoppers.
//!
//! What leaves state per shopper: every Buy that reaches the cooldown check starts the
//! shopper's cooldown (an entry in the gateway's table), whatever the answer after it. A
//! product with no stock answers `sold_out` right after that check, from a flag in memory, so
//! shoppers leave their cooldown and nothing else (a success would also leave a pending
//! order). The cooldown is set to an hour here, so no entry expires during the run; with the
//! default 10 s, a gateway holds only the shoppers of the last 10 s.

use crate::cookies::Cookies;
use crate::sale::{Sale, AMQP};
use crate::table::{thousands, Row, Section};
use crate::wrk::{Shoppers, Wrk};
use crate::Scale;
use anyhow::Context;
use flashsale_core::{Ring, SignCodec};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The longest one load may take (it ends sooner: each shopper clicks once).
const LOAD_BOUND_SECS: u64 = 300;

pub async fn run(scale: &Scale) -> anyhow::Result<Section> {
    let binary = flashsale_binary()?;
    let sale = Sale::open(&[0]).await?;
    let dir = tempfile::tempdir()?;
    let secret = flashsale_core::config::random_secret();
    let child = Command::new(&binary)
        .arg("gateway")
        .env("FLASHSALE_DATABASE_URL", sale.database_url())
        .env("FLASHSALE_STOCK_URL", "redis://127.0.0.1:6379/")
        .env("FLASHSALE_STOCK_PREFIX", &sale.prefix)
        .env("FLASHSALE_QUEUE_URL", AMQP)
        .env("FLASHSALE_QUEUE_NAME", &sale.queue)
        .env("FLASHSALE_COOKIE_SECRET", &secret)
        // Any free port: it prints which.
        .env("FLASHSALE_GATEWAY_LISTEN", "127.0.0.1:0")
        .env("FLASHSALE_DIST", dir.path().join("dist"))
        .env("FLASHSALE_DATA_DIR", dir.path().join("data"))
        .env("FLASHSALE_COOLDOWN_SECS", "3600")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut gateway = Gateway(child);
    let listen = flashsale_testkit::read_until(&mut gateway.0, "gateway listening on")
        .map_err(|printed| anyhow::anyhow!("the gateway did not start:\n{printed}"))?
        .addr("gateway");
    let measured = measure(scale, &sale, &gateway, &listen, &secret, dir.path()).await;
    drop(gateway);
    sale.close().await?;
    measured
}

/// The gateway process, killed when dropped (also when a measurement fails).
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn measure(
    scale: &Scale,
    sale: &Sale,
    gateway: &Gateway,
    listen: &str,
    secret: &str,
    dir: &Path,
) -> anyhow::Result<Section> {
    crate::http::wait_until_healthy(listen, 200).await?;
    let pid = gateway.0.id();
    let path = format!("/getOne?productID={}", sale.products[0]);
    let mut cookies = Cookies::new(
        SignCodec::new(1, secret.as_bytes()),
        Ring::new(&[listen], 20),
        dir,
    );
    let wrk = Wrk::new(dir, LOAD_BOUND_SECS, scale.connections)?;
    // Settle: the first catalogue refresh and peer checks have run.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = rss_kib(pid)?;

    let mut section = Section::new(
        "7. Gateway memory: resident set of a `flashsale gateway` process (from /proc)",
    );
    section.push(Row::new("idle, after start", mib(idle)));
    let mut held = 0;
    for target in scale.memory_shoppers {
        let n = target - held;
        eprintln!("7. memory: {} more shoppers", thousands(n as f64));
        let file = cookies.fresh(n, None)?;
        let load = wrk.post(listen, &path, &file, Shoppers::Once)?;
        std::fs::remove_file(&file)?;
        held = target;
        let rss = rss_kib(pid)?;
        let per_shopper = (rss.saturating_sub(idle) * 1024) as f64 / held as f64;
        section.push(
            Row::new(
                format!(
                    "holding {} shoppers' cooldown (each clicked once: sold_out)",
                    thousands(held as f64)
                ),
                mib(rss),
            )
            .note(format!(
                "+{} over idle, {per_shopper:.0} bytes a shopper",
                mib(rss.saturating_sub(idle))
            ))
            .note(load.unexpected_note(410)),
        );
    }
    Ok(section)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    vm_rss(&status).with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// `VmRSS:   12345 kB` of a `/proc/<pid>/status`.
fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let kib = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib)
}

/// The `flashsale` binary of this workspace, built in this benchmark's profile (cargo does
/// nothing when it is up to date), beside the benchmark's own binary.
fn flashsale_binary() -> anyhow::Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the bench crate lives in the workspace")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "-p", "flashsale", "--bin", "flashsale"])
        .current_dir(workspace);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    eprintln!("7. memory: building the flashsale binary");
    let built = build.status().context("cannot run cargo")?;
    anyhow::ensure!(
        built.success(),
        "cargo could not build the flashsale binary"
    );
    let exe = std::env::current_exe()?;
    let binary = exe
        .parent()
        .context("the benchmark binary has a folder")?
        .join("flashsale");
    anyhow::ensure!(
        binary.exists(),
        "{} is not there after the build",
        binary.display()
    );
    Ok(binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_resident_set_from_proc_status() {
        let status = "Name:\tflashsale\nVmPeak:\t  900000 kB\nVmRSS:\t   23456 kB\nThreads:\t9\n";
        assert_eq!(vm_rss(status), Some(23_456));
        assert_eq!(vm_rss("Name:\tx\n"), None);
        assert_eq!(vm_rss("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(rss_kib(std::process::id()).expect("own status") > 0);
    }
}
