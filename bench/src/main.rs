//! flashsale-bench: measures the shop on this machine, each figure beside a reference taken in
//! the same run, and prints one Markdown table (also written to `BENCHMARKS.md` by `all`).
//!
//! - [`getone`]: 1. the HTTP ceiling, 3. each `/getOne` path to the owner and through a peer.
//! - [`sellout`]: 4. a sale: time to sell out, Buy latency, exactly one order a unit.
//! - [`static_page`]: 2. a product page from the gateway against nginx.
//! - [`drain`]: 5. the worker's drain rate into MariaDB.
//! - [`site`]: 6. sitegen against hugo, and a one-product republish.
//! - [`memory`]: 7. a gateway process's memory with many shoppers' cooldowns.
//! - [`drop`]: 8. a drop with bots, with and without the waiting room ([`drop_sim`]: the
//!   simulated people and bots).
//! - [`room_paths`]: 9. the waiting room's status poll and join at the shopper's owner.
//! - [`nginx_ring`]: 10. the storm through nginx, in front of a ring of three against one.
//! - [`machine`]: date, machine and versions for the report.
//! - [`table`]: the sections and rows of the one table; [`wrk`]: load and its results.
//! - Fixtures: [`sale`] (database, Redis, queue), [`gateways`] (a ring of two),
//!   [`cookies`] (distinct shoppers), [`reference`] (the minimal responder), [`http`].

mod cookies;
mod drain;
mod drop;
mod drop_sim;
mod embedded;
mod gateways;
mod getone;
mod http;
mod machine;
mod memory;
mod nginx_ring;
mod reference;
mod room_paths;
mod sale;
mod sellout;
mod site;
mod static_page;
mod table;
mod wrk;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use table::Section;

/// Benchmarks against the real services on this machine (MariaDB, Redis, RabbitMQ on their
/// default ports) with wrk on loopback; prints one Markdown table.
#[derive(Parser)]
#[command(name = "flashsale-bench", about)]
struct Cli {
    /// Short runs and small counts, to check that every row works (figures are rough).
    #[arg(long, global = true)]
    quick: bool,
    /// Seconds of load per `/getOne` run (default: 10, or 2 with --quick).
    #[arg(long, global = true)]
    seconds: Option<u64>,
    /// Concurrent connections of wrk.
    #[arg(long, global = true, default_value_t = 64)]
    connections: u32,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Every section, as one table, also written to `--out`.
    All {
        /// Where the report goes (default: BENCHMARKS.md at the workspace root; not written
        /// with --quick unless given).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// 1 and 3: the HTTP ceiling and `/getOne` on a ring of two gateways.
    Getone,
    /// 4: a sale of few units to many distinct shoppers, with the worker draining.
    Sale,
    /// 5: the worker's drain rate into MariaDB.
    Drain,
    /// 7: the memory of a `flashsale gateway` process holding many shoppers' cooldowns.
    Memory,
    /// 2: a product page from the gateway against nginx, plain and gzip.
    Static,
    /// 8: a drop with bots, through the real HTTP API, without and with the waiting room.
    Drop {
        /// The prequeue's length in seconds (a real one is 15 minutes; default 60, or 12
        /// with --quick); late arrivals come over a fifteenth of it.
        #[arg(long)]
        prequeue_secs: Option<u64>,
        /// Shoppers the room lets in per second.
        #[arg(long, default_value_t = 20)]
        admit_per_second: u32,
        /// Bits of the join's proof of work (default: the shop's 18, or 14 with --quick).
        #[arg(long)]
        difficulty: Option<u8>,
    },
    /// 9: the waiting room's status poll and join (challenge checked) at the shopper's owner.
    Room,
    /// 10: the storm through nginx (deploy/nginx.conf) in front of a ring of three gateways
    /// against in front of one, with the share of Buys forwarded between gateways.
    Nginx,
    /// 6: sitegen against hugo on the same catalogue; republishing one product.
    Site {
        /// Catalogue sizes (default: 10000,100000).
        #[arg(long, value_delimiter = ',')]
        products: Option<Vec<usize>>,
        /// The largest catalogue hugo renders too (about a minute on 100,000 here).
        #[arg(long, default_value_t = 100_000)]
        hugo_max: usize,
    },
}

/// How big each measurement is.
pub struct Scale {
    pub seconds: u64,
    pub connections: u32,
    pub sale_shoppers: usize,
    pub sale_units: i64,
    pub drain_orders: usize,
    /// The memory is read after the load brings the shoppers held to each of these.
    pub memory_shoppers: [usize; 2],
    /// Catalogue sizes sitegen and hugo render.
    pub site_products: Vec<usize>,
    pub republishes: usize,
    /// Section 8's drop.
    pub drop: drop::DropPlan,
}

impl Scale {
    fn new(cli: &Cli) -> Scale {
        let quick = cli.quick;
        Scale {
            seconds: cli.seconds.unwrap_or(if quick { 2 } else { 10 }),
            connections: cli.connections,
            sale_shoppers: if quick { 20_000 } else { 100_000 },
            sale_units: 1_000,
            drain_orders: if quick { 20_000 } else { 100_000 },
            memory_shoppers: if quick {
                [10_000, 100_000]
            } else {
                [100_000, 1_000_000]
            },
            site_products: if quick {
                vec![1_000]
            } else {
                vec![10_000, 100_000]
            },
            republishes: 20,
            drop: drop::DropPlan {
                people: if quick { 500 } else { 2_000 },
                bots: if quick { 50 } else { 200 },
                units: if quick { 50 } else { 200 },
                prequeue: std::time::Duration::from_secs(if quick { 12 } else { 60 }),
                admit_per_second: 20,
                difficulty: if quick { 14 } else { 18 },
            },
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flashsale-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build measures nothing useful; run with --release");
    }
    let scale = Scale::new(cli);
    let load_before = machine::load_average();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let sections = match &cli.what {
            What::All { .. } => all(&scale).await?,
            What::Getone => getone::run(&scale).await?,
            What::Sale => vec![sellout::run(&scale).await?],
            What::Drain => vec![drain::run(scale.drain_orders).await?],
            What::Memory => vec![memory::run(&scale).await?],
            What::Static => vec![static_page::run(scale.seconds, scale.connections).await?],
            What::Drop {
                prequeue_secs,
                admit_per_second,
                difficulty,
            } => {
                let mut plan = scale.drop.clone();
                if let Some(secs) = prequeue_secs {
                    plan.prequeue = std::time::Duration::from_secs(*secs);
                }
                plan.admit_per_second = *admit_per_second;
                if let Some(bits) = difficulty {
                    plan.difficulty = *bits;
                }
                vec![drop::run(&plan).await?]
            }
            What::Room => vec![room_paths::run(&scale).await?],
            What::Nginx => vec![nginx_ring::run(&scale).await?],
            What::Site { products, hugo_max } => vec![
                site::run(
                    products.as_deref().unwrap_or(&scale.site_products),
                    *hugo_max,
                    scale.republishes,
                )
                .await?,
            ],
        };
        let table = table::render(&sections);
        println!("\n{table}");
        if let What::All { out } = &cli.what {
            let out = match (out, cli.quick) {
                (Some(out), _) => Some(out.clone()),
                (None, false) => Some(
                    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("..")
                        .join("BENCHMARKS.md"),
                ),
                (None, true) => None,
            };
            if let Some(out) = out {
                let report = report(&machine::Environment::collect(&load_before).await, &table);
                std::fs::write(&out, report)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                eprintln!("written to {}", out.display());
            }
        }
        anyhow::Ok(())
    })
}

/// Every section in the order of the issue.
async fn all(scale: &Scale) -> anyhow::Result<Vec<Section>> {
    let mut sections = Vec::new();
    let mut ceiling_and_getone = getone::run(scale).await?.into_iter();
    // 1. the HTTP ceiling
    sections.extend(ceiling_and_getone.next());
    // 2. a static product page, gateway versus nginx
    sections.push(static_page::run(scale.seconds, scale.connections).await?);
    // 3. /getOne
    sections.extend(ceiling_and_getone);
    // 4. a sale
    sections.push(sellout::run(scale).await?);
    // 5. worker drain
    sections.push(drain::run(scale.drain_orders).await?);
    // 6. sitegen versus hugo
    sections.push(site::run(&scale.site_products, usize::MAX, scale.republishes).await?);
    // 7. gateway memory
    sections.push(memory::run(scale).await?);
    // 8. a drop with bots
    sections.push(drop::run(&scale.drop).await?);
    // 9. the waiting room's own paths
    sections.push(room_paths::run(scale).await?);
    // 10. the storm through nginx: a ring of three against one gateway
    sections.push(nginx_ring::run(scale).await?);
    Ok(sections)
}

/// BENCHMARKS.md: where and how, then the table.
fn report(environment: &machine::Environment, table: &str) -> String {
    format!(
        "# Benchmarks\n\n{}\n\
         Everything ran at once on this one machine: wrk, the gateways, Redis, RabbitMQ and \
         MariaDB share its cores, so absolute figures move with the machine and its other \
         load; the ratios to the references measured in the same run are what carries over. \
         Goals are the issue's targets, reported, not asserted.\n\n{table}",
        environment.header()
    )
}
