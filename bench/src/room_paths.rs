//! Section 9: the waiting room's own paths at the shopper's owner, on Redis, each beside a
//! ceiling run just before it: a waiting shopper polling its status (answered from the node's
//! memory; goal 0.8x the ceiling) and a join with its challenge checked and its place taken in
//! Redis (goal 5,000 a second).
//!
//! The challenges are solved at 4 bits: what a gateway spends checking one (a MAC and one
//! SHA-256) does not depend on the difficulty, and solving 18 bits natively for every shopper
//! would take the run's setup minutes.

use crate::cookies::Cookies;
use crate::sale::{Sale, AMQP};
use crate::table::{Row, Section};
use crate::wrk::{Shoppers, Wrk};
use crate::Scale;
use flashsale_core::domain::NewProduct;
use flashsale_core::queue::AmqpQueue;
use flashsale_core::stock::StockStore;
use flashsale_core::waiting_room::{solve, ChallengeKey, RedisRoom};
use flashsale_core::{Ring, SignCodec};
use flashsale_gateway::cluster::Cluster;
use flashsale_gateway::room::{RoomParts, RoomSettings};
use flashsale_gateway::{Shop, ShopParts};
use flashsale_testkit::free_port;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const STATUS_GOAL: f64 = 0.8;
const JOINS_GOAL: f64 = 5_000.0;
const DIFFICULTY: u8 = 4;

pub async fn run(scale: &Scale) -> anyhow::Result<Section> {
    let dir = tempfile::tempdir()?;
    let sale = Sale::open(&[]).await?;
    let measured = measure(scale, &sale, dir.path()).await;
    sale.close().await?;
    measured
}

async fn measure(scale: &Scale, sale: &Sale, dir: &std::path::Path) -> anyhow::Result<Section> {
    // A drop whose line is open from now on (no saleStart) and admits one shopper a second:
    // almost everyone who joins stays waiting.
    let product = sale
        .db
        .insert_product(&NewProduct {
            name: "bench drop".into(),
            stock: 1_000,
            price_cents: 1,
            image: String::new(),
            description: String::new(),
            sale_start: None,
            sale_end: None,
            queue: true,
            admit_per_second: 1,
        })
        .await?;
    sale.stock.load(product, 1_000, &[]).await?;
    let secret = flashsale_core::config::random_secret();
    let codec = SignCodec::new(1, secret.as_bytes());
    let (listener, addr) = flashsale_testkit::loopback_listener();
    let shop = Shop::new(ShopParts {
        db: sale.db.clone(),
        stock: sale.stock.clone() as Arc<dyn StockStore>,
        queue: Arc::new(AmqpQueue::connect(AMQP, &sale.queue).await?),
        codec: codec.clone(),
        session_ttl: Duration::from_secs(3600),
        cooldown: Duration::from_secs(10),
        cooldown_capacity: 4_000_000,
        dist: dir.join("dist"),
        cluster: Cluster::alone(&addr),
        sessions: Arc::new(flashsale_core::sessions::MemorySessions::new()),
        limits: flashsale_gateway::throttle::Limits::default(),
        trusted_proxies: Vec::new(),
        cookie_secure: false,
        room: RoomParts {
            store: Arc::new(RedisRoom::connect("redis://127.0.0.1:6379/", &sale.prefix).await?),
            key: ChallengeKey::derive(secret.as_bytes()),
            settings: RoomSettings {
                prequeue_secs: 900,
                pass_secs: 300,
                difficulty: DIFFICULTY,
                register_difficulty: 0,
            },
        },
    })
    .await?;
    let gateway = flashsale_gateway::spawn(shop, listener, 0, None)?;
    crate::http::wait_until_healthy(&addr, 200).await?;

    let wrk = Wrk::new(dir, scale.seconds, scale.connections)?;
    // The reference binds its own address (pingora's add_tcp): a port free now.
    let reference_addr = format!("127.0.0.1:{}", free_port());
    let _reference = crate::reference::spawn(&reference_addr);
    crate::http::wait_until_healthy(&reference_addr, 202).await?;
    let mut cookies = Cookies::new(codec, Ring::new(std::slice::from_ref(&addr), 20), dir);
    let ceiling_cookies = cookies.fresh(10_000, None)?;
    let ceiling_run = || {
        wrk.post(
            &reference_addr,
            "/getOne",
            &ceiling_cookies,
            Shoppers::Cycle,
        )
    };

    let mut section = Section::new(format!(
        "9. The waiting room at the shopper's owner (Redis), {} connections, {} s a run; each \
         against a ceiling run just before it",
        scale.connections, scale.seconds
    ));

    // Joins: each shopper once, with a challenge of its own, solved.
    eprintln!("9. preparing the joiners' challenges");
    let shoppers = if scale.seconds <= 2 { 5_000 } else { 40_000 };
    let joiners = cookies.fresh(shoppers, None)?;
    let lines = solved_joins(&addr, product, &joiners, &dir.join("joins.txt")).await?;
    let ceiling = ceiling_run()?;
    eprintln!("9. joins");
    let joins = wrk.send(
        &addr,
        "POST",
        &format!("/queue/{product}/join"),
        &lines,
        Shoppers::Once,
    )?;
    let mut row = Row::load(
        "join: challenge checked (4 bits), one place taken in Redis",
        &joins,
        200,
    )
    .versus(joins.rate(), ceiling.rate(), "ceiling", None)
    .note(format!(
        "goal >= {JOINS_GOAL:.0}/s: {}",
        if joins.rate() >= JOINS_GOAL {
            "met"
        } else {
            "missed"
        }
    ));
    if joins.count(200) < joins.answered() {
        row = row.note("some joins were refused");
    }
    section.push(row);

    // Status polls of the shoppers now waiting, again and again.
    let ceiling = ceiling_run()?;
    eprintln!("9. status of waiting shoppers");
    let polls = wrk.send(
        &addr,
        "GET",
        &format!("/queue/{product}/status"),
        &joiners,
        Shoppers::Cycle,
    )?;
    section.push(
        Row::load(
            "status of a waiting shopper (position from memory)",
            &polls,
            200,
        )
        .versus(polls.rate(), ceiling.rate(), "ceiling", Some(STATUS_GOAL)),
    );
    tokio::task::spawn_blocking(move || gateway.shutdown()).await?;
    Ok(section)
}

/// For each shopper of `cookies`: a challenge from the gateway, solved; written as
/// `cookie<TAB>challenge=…&nonce=…` lines.
async fn solved_joins(
    addr: &str,
    product: i64,
    cookies: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<std::path::PathBuf> {
    let text = std::fs::read_to_string(cookies)?;
    let path = format!("/queue/{product}/challenge");
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    let all: Vec<&str> = text.lines().collect();
    for chunk in all.chunks(64) {
        let answers = futures::future::join_all(
            chunk
                .iter()
                .map(|cookie| crate::http::answer(addr, "GET", &path, cookie)),
        )
        .await;
        for (cookie, answer) in chunk.iter().zip(answers) {
            let (status, body) = answer?;
            anyhow::ensure!(status == 200, "a challenge answered {status}: {body}");
            let json: serde_json::Value = serde_json::from_str(&body)?;
            let challenge = json["challenge"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("no challenge in {body}"))?;
            let nonce = solve(challenge, DIFFICULTY);
            writeln!(file, "{cookie}\tchallenge={challenge}&nonce={nonce}")?;
        }
    }
    file.flush()?;
    Ok(out.to_path_buf())
}
