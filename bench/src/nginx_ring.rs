//! Section 10: the storm through nginx running `deploy/nginx.conf`, in front of a ring of three
//! gateways against in front of one gateway (the same machine runs nginx either way, so like is
//! compared with like), and the share of Buys the ring's gateways forwarded to each other, read
//! from their metrics. Each shopper carries the `owner` cookie a ring's gateway sets at login,
//! which nginx routes on.
//!
//! The storm: 20,000 shoppers cycling on one product with plenty of stock and the default
//! cooldown, so each shopper's first Buy is queued and the rest are too fast.

use crate::cookies::Cookies;
use crate::gateways::{Gateways, COOLDOWN};
use crate::sale::Sale;
use crate::table::{Row, Section};
use crate::wrk::{Load, Shoppers, Wrk};
use crate::Scale;
use flashsale_testkit::free_port;
use flashsale_testkit::nginx::LocalNginx;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NGINX_CONF: &str = include_str!("../../deploy/nginx.conf");
const SHOPPERS: usize = 20_000;
/// Goals from the issue: the ring through nginx as fast as one gateway, almost no forwards.
const RING_GOAL: f64 = 0.9;
const MOST_FORWARDED: f64 = 0.05;

pub async fn run(scale: &Scale) -> anyhow::Result<Section> {
    anyhow::ensure!(
        Command::new("nginx").arg("-v").output().is_ok(),
        "nginx is not installed (Debian: apt-get install nginx libnginx-mod-http-brotli-static)"
    );
    let mut section = Section::new(format!(
        "10. The storm through nginx (deploy/nginx.conf): {SHOPPERS} shoppers cycling, each \
         carrying the owner cookie; {} connections, {} s a run",
        scale.connections, scale.seconds
    ));
    let one = storm(scale, 1).await?;
    section.push(storm_row("nginx + one gateway (reference)", &one));
    let three = storm(scale, 3).await?;
    let share = three.forwarded_share();
    section.push(
        storm_row("nginx + a ring of three gateways", &three)
            .versus(
                three.load.rate(),
                one.load.rate(),
                "nginx + one",
                Some(RING_GOAL),
            )
            .note(format!(
                "{:.1}% of Buys forwarded between gateways (goal <= {:.0}%)",
                share * 100.0,
                MOST_FORWARDED * 100.0
            )),
    );
    Ok(section)
}

struct Storm {
    load: Load,
    answered: u64,
    forwarded: u64,
}

impl Storm {
    fn forwarded_share(&self) -> f64 {
        self.forwarded as f64 / self.answered.max(1) as f64
    }
}

/// A storm's row: queued and too fast are both expected, so the note gives the whole mix.
fn storm_row(what: &str, storm: &Storm) -> Row {
    let mut row = Row::load(what, &storm.load, 429);
    let mut mix: Vec<String> = storm
        .load
        .statuses
        .iter()
        .map(|(status, n)| format!("{status} x{n}"))
        .collect();
    if storm.load.errors > 0 {
        mix.push(format!("errors x{}", storm.load.errors));
    }
    row.notes = format!("answers: {}", mix.join(", "));
    row
}

/// The storm through nginx in front of a ring of `n` fresh gateways on a fresh sale.
async fn storm(scale: &Scale, n: usize) -> anyhow::Result<Storm> {
    let dir = tempfile::tempdir()?;
    let sale = Sale::open(&[1_000_000_000]).await?;
    let gateways = Gateways::start_ring(&sale, COOLDOWN, n).await?;
    // nginx binds what its config names: a port free now.
    let listen = format!("127.0.0.1:{}", free_port());
    let measured = async {
        let mut nginx = start_nginx(dir.path(), &listen, &gateways.nodes)?;
        let result = async {
            crate::http::wait_until_healthy(&listen, 200).await?;
            let mut cookies = Cookies::new(gateways.codec.clone(), gateways.ring(), dir.path());
            let file = cookies.fresh_with_owner(SHOPPERS)?;
            let wrk = Wrk::new(dir.path(), scale.seconds, scale.connections)?;
            let path = format!("/getOne?productID={}", sale.products[0]);
            eprintln!("10. the storm through nginx + {n} gateway(s)");
            let load = wrk.post(&listen, &path, &file, Shoppers::Cycle)?;
            let (answered, forwarded) = gateways.buys_and_forwards();
            anyhow::Ok(Storm {
                load,
                answered,
                forwarded,
            })
        }
        .await;
        stop_nginx(dir.path(), &mut nginx);
        result
    }
    .await;
    gateways.shutdown().await?;
    sale.close().await?;
    measured
}

fn nginx_command(dir: &Path) -> Command {
    let mut command = Command::new("nginx");
    command
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"));
    command
}

/// nginx on `listen` running `deploy/nginx.conf` for `gateways`, access log off (as a busy
/// shop would).
fn start_nginx(dir: &Path, listen: &str, gateways: &[String]) -> anyhow::Result<Child> {
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist)?;
    let local = LocalNginx {
        dir: dir.to_path_buf(),
        listen: listen.to_string(),
        root: dist,
        gateways: gateways.to_vec(),
    };
    let conf = local
        .rewrite(NGINX_CONF)
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("access_log ") {
                "    access_log off;".to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("nginx.conf"), conf)?;
    let check = nginx_command(dir).arg("-t").output()?;
    anyhow::ensure!(
        check.status.success(),
        "nginx -t refused deploy/nginx.conf: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut child = nginx_command(dir)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(listen).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            anyhow::bail!(
                "nginx exited ({status}): {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
        }
        anyhow::ensure!(Instant::now() < deadline, "nginx did not listen in 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child)
}

fn stop_nginx(dir: &Path, nginx: &mut Child) {
    let mut stop = nginx_command(dir);
    stop.args(["-s", "stop"]);
    flashsale_testkit::stop_gracefully(&mut stop, nginx);
}
