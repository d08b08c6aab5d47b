//! Sections 1 and 3: the HTTP ceiling (a minimal pingora responder), then each `/getOne` path
//! of a ring of two gateways, sent to the shopper's owner and through the other node, as a
//! ratio to the ceiling.
//!
//! Every run sends its load to node A: the "owner" runs use shoppers A owns, the "non-owner"
//! runs shoppers B owns, which A forwards. The reject paths run before the success path: the
//! success runs leave RabbitMQ a backlog of persistent messages, and the broker's work on it
//! would be measured as the next runs' slowness on a machine this small.

use crate::cookies::Cookies;
use crate::embedded::Embedded;
use crate::gateways::Gateways;
use crate::sale::Sale;
use crate::table::{Row, Section};
use crate::wrk::{median, rates, Load, Shoppers, Wrk};
use crate::Scale;
use flashsale_testkit::free_port;
use std::path::PathBuf;
use std::time::Duration;

/// Stock of the product the success runs buy: more than any run can sell.
const PLENTY: i64 = 1_000_000_000;
/// Goals from the issue, as ratios to the ceiling.
const REJECT_GOAL: f64 = 0.9;
const SUCCESS_GOAL: f64 = 0.5;

/// One `/getOne` path: what it is, the answer it must get, and its goal.
struct Path {
    name: &'static str,
    kind: Kind,
    goal: f64,
    /// What the non-owner row measures.
    through: &'static str,
}

/// Which answer a path's load gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unauthorized,
    TooFast,
    SoldOut,
    NotOnSale,
    NotAdmitted,
    Success,
}

impl Kind {
    fn status(self) -> u16 {
        match self {
            Kind::Unauthorized => 401,
            Kind::TooFast => 429,
            Kind::SoldOut => 410,
            Kind::NotOnSale | Kind::NotAdmitted => 403,
            Kind::Success => 202,
        }
    }
}

/// The products of the runs, in the order of [`Sale::open_products`].
const ON_SALE: usize = 0;
const SOLD_OUT: usize = 1;
const NOT_YET: usize = 2;
const QUEUED: usize = 3;

/// The note of a forwarded row.
const HOP: &str = "two HTTP hops on one machine";

pub async fn run(scale: &Scale) -> anyhow::Result<Vec<Section>> {
    let dir = tempfile::tempdir()?;
    let in_a_day = flashsale_core::domain::now_unix() + 86_400;
    let sale = Sale::open_products(&[
        crate::sale::product(PLENTY),
        crate::sale::product(0),
        flashsale_core::domain::NewProduct {
            sale_start: Some(in_a_day),
            ..crate::sale::product(PLENTY)
        },
        // A waiting room no bench shopper joined: each is refused before the cooldown.
        flashsale_core::domain::NewProduct {
            queue: true,
            ..crate::sale::product(PLENTY)
        },
    ])
    .await?;
    // Longer than a run, so the one shopper of too_fast stays too fast throughout (with the
    // default 10 s, a 10 s run would let it through once); a check costs the same either way.
    let cooldown = Duration::from_secs(scale.seconds + 60);
    let gateways = Gateways::start(&sale, cooldown).await?;
    let measured = measure(scale, &sale, &gateways, dir.path().to_path_buf()).await;
    gateways.shutdown().await?;
    sale.close().await?;
    measured
}

async fn measure(
    scale: &Scale,
    sale: &Sale,
    gateways: &Gateways,
    dir: PathBuf,
) -> anyhow::Result<Vec<Section>> {
    let (a, b) = (gateways.a().to_string(), gateways.b().to_string());
    let url = |which: usize| format!("/getOne?productID={}", sale.products[which]);
    let (on_sale, sold_out) = (url(ON_SALE), url(SOLD_OUT));
    let (not_yet, queued) = (url(NOT_YET), url(QUEUED));
    let mut cookies = Cookies::new(gateways.codec.clone(), gateways.ring(), &dir);
    let wrk = Wrk::new(&dir, scale.seconds, scale.connections)?;

    eprintln!("1. the HTTP ceiling");
    // The reference binds its own address (pingora's add_tcp): a port free now.
    let reference_addr = format!("127.0.0.1:{}", free_port());
    let _reference = crate::reference::spawn(&reference_addr);
    crate::http::wait_until_healthy(&reference_addr, 202).await?;
    let ceiling_cookies = cookies.fresh(10_000, None)?;
    // The ceiling is measured again right before each path, and each path is compared with
    // the run next to it: this machine's speed drifts over the minutes section 3 takes.
    let ceiling_run = || wrk.post(&reference_addr, &on_sale, &ceiling_cookies, Shoppers::Cycle);
    let mut ceilings = vec![ceiling_run()?];

    // Each product's flag is set by its first Buy on each node; do that before measuring.
    for node in [&a, &b] {
        let first_click = cookies.one(1, Some(node))?;
        let cookie = std::fs::read_to_string(&first_click)?;
        let status = crate::http::status(&a, "POST", &sold_out, cookie.trim()).await?;
        anyhow::ensure!(
            status == 410,
            "a Buy of the sold-out product answered {status}"
        );
    }

    let mut third = Section::new(format!(
        "3. POST /getOne on a ring of two gateways (Redis, RabbitMQ), {} connections, {} s a \
         run; each path against a ceiling run just before it",
        scale.connections, scale.seconds
    ));
    let paths = [
        Path {
            name: "unauthorized (tampered sign cookie)",
            kind: Kind::Unauthorized,
            goal: REJECT_GOAL,
            through: "answered where it lands: a token that fails names no shopper to forward",
        },
        Path {
            name: "too_fast (one shopper, again and again)",
            kind: Kind::TooFast,
            goal: REJECT_GOAL,
            through: HOP,
        },
        Path {
            name: "sold_out (distinct shoppers, no stock)",
            kind: Kind::SoldOut,
            goal: REJECT_GOAL,
            through: HOP,
        },
        Path {
            name: "not_on_sale (10,000 shoppers cycling, sale opens tomorrow)",
            kind: Kind::NotOnSale,
            goal: REJECT_GOAL,
            through: HOP,
        },
        Path {
            name: "not_admitted (10,000 shoppers cycling, none admitted by the waiting room)",
            kind: Kind::NotAdmitted,
            goal: REJECT_GOAL,
            through: HOP,
        },
        Path {
            name: "success: reserve in Redis, publish in confirmed groups (distinct shoppers)",
            kind: Kind::Success,
            goal: SUCCESS_GOAL,
            through: HOP,
        },
    ];
    let mut redis_success = None;
    for path in paths {
        let ceiling = ceiling_run()?;
        // A path goes no faster than the ceiling (and a non-owner slower): that many
        // shoppers last the whole run, with room for the ceiling's drift.
        let enough = (ceiling.rate() * scale.seconds as f64 * 1.5) as usize + 1_000;
        let mut owner_load: Option<Load> = None;
        for (owner, how) in [(&a, "to the owner"), (&b, "through a non-owner")] {
            eprintln!("3. {}, {how}", path.name);
            let (file, url, shoppers) = match path.kind {
                Kind::Unauthorized => (
                    cookies.forged(10_000, Some(owner))?,
                    &on_sale,
                    Shoppers::Cycle,
                ),
                Kind::NotOnSale => (
                    cookies.fresh(10_000, Some(owner))?,
                    &not_yet,
                    Shoppers::Cycle,
                ),
                Kind::NotAdmitted => (
                    cookies.fresh(10_000, Some(owner))?,
                    &queued,
                    Shoppers::Cycle,
                ),
                Kind::TooFast => {
                    let file = cookies.one(2, Some(owner))?;
                    let cookie = std::fs::read_to_string(&file)?;
                    let cookie = cookie.lines().next().unwrap_or_default();
                    // The first click starts the cooldown; every later one is too fast.
                    let status = crate::http::status(&a, "POST", &on_sale, cookie).await?;
                    anyhow::ensure!(status == 202, "the first click answered {status}");
                    (file, &on_sale, Shoppers::Cycle)
                }
                Kind::SoldOut => (
                    cookies.fresh(enough, Some(owner))?,
                    &sold_out,
                    Shoppers::Once,
                ),
                Kind::Success => (
                    cookies.fresh(enough, Some(owner))?,
                    &on_sale,
                    Shoppers::Once,
                ),
            };
            let load = wrk.post(&a, url, &file, shoppers)?;
            std::fs::remove_file(&file)?;
            let mut row = Row::load(format!("{} {how}", path.name), &load, path.kind.status());
            row = match &owner_load {
                None => row.versus(load.rate(), ceiling.rate(), "ceiling", Some(path.goal)),
                Some(direct) => row
                    .versus(load.rate(), ceiling.rate(), "ceiling", None)
                    .note(format!(
                        "{:.2}x the owner row: {}",
                        load.rate() / direct.rate().max(1.0),
                        path.through
                    )),
            };
            third.push(row);
            if path.kind == Kind::Success && owner_load.is_none() {
                redis_success = Some(load.rate());
            }
            owner_load.get_or_insert(load);
        }
        ceilings.push(ceiling);
    }

    // The success path on embedded defaults (`flashsale up`): one gateway, stock in memory,
    // each 202 after its order's group commit to the SQLite outbox, the worker draining it.
    eprintln!("3. success on embedded defaults");
    let cooldown = Duration::from_secs(scale.seconds + 60);
    let embedded = Embedded::start(PLENTY, cooldown).await?;
    let ceiling = ceiling_run()?;
    let embedded_dir = dir.join("embedded");
    std::fs::create_dir_all(&embedded_dir)?;
    let mut embedded_cookies = Cookies::new(
        embedded.codec.clone(),
        flashsale_core::Ring::new(std::slice::from_ref(&embedded.addr), 20),
        &embedded_dir,
    );
    let enough = (ceiling.rate() * scale.seconds as f64 * 1.5) as usize + 1_000;
    let file = embedded_cookies.fresh(enough, None)?;
    let url = format!("/getOne?productID={}", embedded.product);
    let load = wrk.post(&embedded.addr, &url, &file, Shoppers::Once);
    embedded.shutdown().await?;
    let load = load?;
    std::fs::remove_file(&file)?;
    let versus_redis = load.rate() / redis_success.unwrap_or(f64::NAN).max(1.0);
    third.push(
        Row::load(
            "success on embedded defaults: reserve in memory, group commit to the SQLite outbox",
            &load,
            202,
        )
        .versus(load.rate(), ceiling.rate(), "ceiling", None)
        .note(format!(
            "{versus_redis:.2}x the Redis + RabbitMQ success row to the owner (goal >= 1.00x)"
        )),
    );
    ceilings.push(ceiling);

    let runs = ceilings.len();
    let all_rates = rates(&ceilings);
    let middle = median(ceilings);
    let mut first = Section::new("1. HTTP ceiling (the reference of section 3)");
    first.push(
        Row::load(
            "minimal pingora responder: POST with a shopper's cookie, a Buy-sized 202",
            &middle,
            202,
        )
        .note(format!(
            "{} connections, {} s a run; the median of {} runs, one before each path of \
             section 3, which is compared with its own: {} req/s",
            scale.connections, scale.seconds, runs, all_rates
        )),
    );
    Ok(vec![first, third])
}
