//! `/getOne` sent to the shopper's owner directly, and through a node that forwards it: what a
//! hop across the ring costs.

use crate::buy::{Wrk, SCRIPT};
use crate::sale::{Sale, AMQP};
use crate::table::Table;
use flashsale_core::domain::now_unix;
use flashsale_core::queue::AmqpQueue;
use flashsale_core::stock::StockStore;
use flashsale_core::{Ring, SignCodec};
use flashsale_gateway::cluster::Cluster;
use flashsale_gateway::{Shop, ShopParts};
use flashsale_testkit::free_port;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

pub async fn run(seconds: u64, connections: u32) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sale = Sale::open(10_000_000).await?;
    let (db, product_id) = (sale.db.clone(), sale.product_id);
    let stock: Arc<dyn StockStore> = sale.stock.clone();
    let codec = SignCodec::new(1, flashsale_core::config::random_secret().as_bytes());
    let cluster_secret = flashsale_core::config::random_secret();
    let nodes = vec![
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    ];

    let mut gateways = Vec::new();
    for node in &nodes {
        let shop = Shop::new(ShopParts {
            db: db.clone(),
            stock: stock.clone(),
            queue: Arc::new(AmqpQueue::connect(AMQP, &sale.queue).await?),
            codec: codec.clone(),
            session_ttl: Duration::from_secs(3600),
            cooldown: Duration::from_secs(10),
            cooldown_capacity: 2_000_000,
            dist: dir.path().to_path_buf(),
            cluster: Cluster::new(&nodes, 20, node, cluster_secret.as_bytes()),
        })
        .await?;
        gateways.push(flashsale_gateway::spawn(shop, node, 0, None)?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Shoppers node A owns, split in two sets so the direct and the forwarded runs never
    // meet the same shopper (each would be already_bought).
    let ring = Ring::new(&nodes, 20);
    let owned_by_a = (1i64..).filter(|u| ring.owner(&u.to_string()) == Some(nodes[0].as_str()));
    let mut direct = std::io::BufWriter::new(std::fs::File::create(dir.path().join("direct.txt"))?);
    let mut forwarded =
        std::io::BufWriter::new(std::fs::File::create(dir.path().join("forwarded.txt"))?);
    for (i, uid) in owned_by_a.take(600_000).enumerate() {
        let line = format!("uid={uid}; sign={}", codec.issue(uid, now_unix() + 3600));
        if i % 2 == 0 {
            writeln!(direct, "{line}")?;
        } else {
            writeln!(forwarded, "{line}")?;
        }
    }
    direct.flush()?;
    forwarded.flush()?;
    drop((direct, forwarded));
    let script = dir.path().join("shoppers.lua");
    std::fs::write(&script, SCRIPT)?;
    let path = format!("/getOne?productID={product_id}");
    let wrk = Wrk {
        script: &script,
        path: &path,
        seconds,
        connections,
    };

    let to_owner = wrk.load(&nodes[0], &dir.path().join("direct.txt"), 202, false)?;
    let through_peer = wrk.load(&nodes[1], &dir.path().join("forwarded.txt"), 202, false)?;
    // Reject path: the same shoppers again, all within their cooldown.
    let too_fast_owner = wrk.load(&nodes[0], &dir.path().join("direct.txt"), 429, true)?;
    let too_fast_peer = wrk.load(&nodes[1], &dir.path().join("forwarded.txt"), 429, true)?;

    let mut table = Table::new(&[
        "path",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "unexpected answers",
        "vs owner direct",
    ]);
    for (name, l, reference) in [
        ("success, sent to the owner", &to_owner, &to_owner),
        ("success, through a non-owner", &through_peer, &to_owner),
        (
            "too_fast, sent to the owner",
            &too_fast_owner,
            &too_fast_owner,
        ),
        (
            "too_fast, through a non-owner",
            &too_fast_peer,
            &too_fast_owner,
        ),
    ] {
        table.row(l.row(name, reference));
    }
    table.print(&format!(
        "/getOne across a ring of two gateways, {connections} connections, {seconds} s each"
    ));

    tokio::task::spawn_blocking(move || gateways.into_iter().for_each(|g| g.shutdown())).await?;
    sale.close().await?;
    Ok(())
}
