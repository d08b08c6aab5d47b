//! flashsale-bench: measures the shop beside references taken in the same run.

mod buy;
mod drain;
mod ring;
mod sale;
mod table;

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
            What::All => {
                drain::run(100_000).await?;
                buy::run(10, 64).await?;
                ring::run(10, 64).await
            }
        }
    })
}
