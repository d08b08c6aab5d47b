//! The command line: `flashsale <command>`, one module per command.

/// `println!` for what a command tells its operator: if stdout is gone (the reader closed
/// the pipe), the line is lost, but the shop keeps running instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod admin;
mod audit;
mod backup;
mod gateway;
pub mod logging;
mod migrate;
mod sitegen;
mod up;
mod worker;

use anyhow::Context;
use clap::{Parser, Subcommand};
use flashsale_core::Config;
use std::path::PathBuf;

/// Flashsale: a flash-sale shop whose pages cost nothing to serve and whose Buy button holds
/// under a storm, without ever selling a unit twice.
///
/// Every option can also be set in a TOML config file or as FLASHSALE_<KEY> in the environment
/// (for example FLASHSALE_DATABASE_URL, FLASHSALE_GATEWAY_LISTEN, FLASHSALE_COOLDOWN_SECS).
///
/// A listen address with port 0 (gateway_listen, admin_listen, metrics_listen) takes any free
/// port. Each server says where it listens, once it accepts connections, in one line on stdout:
/// `listening <part>=<host:port>`, part being gateway, admin or metrics.
#[derive(Debug, Parser)]
#[command(name = "flashsale", version, about, long_about)]
pub struct Cli {
    /// The TOML config file.
    #[arg(long, short, global = true, env = "FLASHSALE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log more (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole shop in one process: SQLite under data/, in-memory stock and queue, the
    /// demo catalogue on first run, the site rendered into dist/, the gateway on :8080, the
    /// admin back-office on :8081 (its password and API token are printed on first run).
    Up,
    /// Render the catalogue from the database into dist/, incrementally: only pages whose
    /// product, template or asset changed since the last render are written.
    Sitegen(sitegen::Args),
    /// Run the gateway alone (scale-out deployments). SIGHUP reloads ring_nodes from the
    /// config file without a restart.
    Gateway,
    /// Run the order worker alone (scale-out deployments).
    Worker,
    /// Run the admin back-office alone (products, orders, live dashboard, republish, and the
    /// JSON API under /api/) on admin_listen (default 127.0.0.1:8081). It needs the shop's
    /// database, its Redis stock store (stock_url) so stock edits reach the gateways, and dist
    /// pointing at the site the gateways serve. Credentials: admin_user / admin_password and
    /// admin_token (FLASHSALE_ADMIN_USER, FLASHSALE_ADMIN_PASSWORD, FLASHSALE_ADMIN_TOKEN), or
    /// generated under data_dir on first run and printed once.
    Admin,
    /// Create or upgrade the database schema.
    Migrate,
    /// Check that the database, the stock store and the queue add up, per product; exits
    /// non-zero when they do not. Run it when the shop is quiet.
    Audit,
    /// Write a consistent copy of the SQLite database to FILE while the shop runs (restore:
    /// stop the shop, put the copy in place of the database file, start it; see the README).
    /// For MySQL/MariaDB use mariadb-dump --single-transaction or mariabackup.
    Backup(backup::Args),
}

/// The `listening <part>=<host:port>` line of a server that accepts connections (see the
/// help): the bound address, so whoever asked for port 0 learns which port it got.
fn announce(part: &str, addr: &str) {
    say!("listening {part}={addr}");
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let file = cli.config.clone();
    let config = Config::load(file.as_deref()).context("could not load the configuration")?;
    tracing::debug!(?config, "configuration");
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Up => up::run(&config).await,
            Command::Sitegen(args) => sitegen::run(&config, args).await,
            Command::Gateway => gateway::run(&config, file.as_deref()).await,
            Command::Worker => worker::run(&config).await,
            Command::Admin => admin::run(&config).await,
            Command::Migrate => migrate::run(&config).await,
            Command::Audit => audit::run(&config).await,
            Command::Backup(args) => backup::run(&config, args).await,
        }
    })
}

/// The log format the config asks for, read before the logs start; a config that does not
/// load gives plain text (`run` then reports why it does not load).
pub fn log_format(file: Option<&std::path::Path>) -> logging::Format {
    Config::load(file).map_or(logging::Format::Text, |c| {
        logging::Format::from_config(&c.log_format)
    })
}

pub fn init_logging(verbose: u8) {
    logging::init(verbose, logging::Format::Text);
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: call it before announcing that the process is up, so a signal
/// sent right after the announcement stops it cleanly instead of killing it.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (mut interrupt, mut terminate) = handlers;
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let terminate = async {
                match terminate.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = interrupt => {}
                _ = terminate => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
