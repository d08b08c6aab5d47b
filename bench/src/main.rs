//! flashsale-bench: measures the shop beside references taken in the same run.

mod buy;
mod drain;
mod ring;
mod sale;
mod site;
mod static_page;
mod table;
mod wrk;

use clap::{Parser, Subcommand};

/// Benchmarks against the real services on this machine; prints Markdown tables.
#[derive(Parser)]
#[command(name = "flashsale-bench", about)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Worker drain rate: queued orders recorded in MariaDB per second.
    Drain {
        /// Orders to queue and drain.
        #[arg(long, default_value_t = 100_000)]
        orders: usize,
    },
    /// `/getOne` through Redis + RabbitMQ, against a minimal pingora responder.
    Buy {
        /// Seconds of load per measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent connections.
        #[arg(long, default_value_t = 64)]
        connections: u32,
    },
    /// `/getOne` to the shopper's owner directly versus through a node that forwards it.
    Ring {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: u32,
    },
    /// sitegen against hugo on the same catalogue; republishing one product.
    Site {
        /// Catalogue sizes to render.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        products: Vec<usize>,
        /// Single-product republishes timed per size.
        #[arg(long, default_value_t = 20)]
        republishes: usize,
    },
    /// A product page from the gateway against nginx, plain and gzip.
    Static {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: u32,
    },
    /// Every benchmark, with its defaults.
    All,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match cli.what {
            What::Drain { orders } => drain::run(orders).await,
            What::Buy {
                seconds,
                connections,
            } => buy::run(seconds, connections).await,
            What::Ring {
                seconds,
                connections,
            } => ring::run(seconds, connections).await,
            What::Site {
                products,
                republishes,
            } => site::run(&products, republishes).await,
            What::Static {
                seconds,
                connections,
            } => static_page::run(seconds, connections).await,
            What::All => {
                drain::run(100_000).await?;
                buy::run(10, 64).await?;
                ring::run(10, 64).await
            }
        }
    })
}
