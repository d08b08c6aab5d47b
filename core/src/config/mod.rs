//! Configuration: one TOML file plus `FLASHSALE_*` environment overrides.
//!
//! Every key can be set in the file (`--config` or `FLASHSALE_CONFIG`) or in the environment as
//! `FLASHSALE_` + the key in capitals; the environment wins. Unknown keys are an error, so a
//! typo is caught at start instead of silently ignored.
//!
//! The settings and their defaults are here; `load` reads and validates them, `secret`
//! checks secrets and keeps generated ones in files.

mod load;
mod secret;
#[cfg(test)]
mod tests;

pub use crate::secrets::random_secret;
pub use secret::{check_secret, MIN_SECRET_BYTES};

use serde::{Deserialize, Deserializer, Serialize};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("could not read or write the secret file {path}")]
    SecretFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{setting} is {why}; {fix}")]
    WeakSecret {
        /// The setting, as an operator would find it (`FLASHSALE_COOKIE_SECRET`, a file).
        setting: String,
        why: String,
        fix: String,
    },
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `mysql://…` or `sqlite://…`.
    pub database_url: String,
    /// `redis://…` or `memory:`.
    pub stock_url: String,
    /// `amqp://…` or `memory:`.
    pub queue_url: String,
    /// Prefix of every stock-store key (Redis), so several shops can share one Redis.
    pub stock_prefix: String,
    /// The RabbitMQ queue of orders; its dead letters go to `{queue_name}.dead`.
    pub queue_name: String,
    /// Unacknowledged messages a worker may hold at once (RabbitMQ prefetch); each carries
    /// the orders a gateway published together.
    pub worker_prefetch: u16,
    pub gateway_listen: String,
    pub admin_listen: String,
    /// Where the gateway serves Prometheus metrics; off when unset.
    pub metrics_listen: Option<String>,
    /// The generated site.
    pub dist: PathBuf,
    /// Where generated secrets and the SQLite file live.
    pub data_dir: PathBuf,
    #[serde(deserialize_with = "opt_text")]
    pub admin_token: Option<String>,
    /// The back-office's login name.
    pub admin_user: String,
    /// The back-office's password; when unset, one is generated on first run, printed once,
    /// and only its hash is kept under `data_dir`.
    #[serde(deserialize_with = "opt_text")]
    pub admin_password: Option<String>,
    /// Per-shopper Buy cooldown.
    pub cooldown_secs: u64,
    /// Shoppers whose cooldown a gateway remembers at once; when full, new shoppers get 503.
    pub cooldown_capacity: usize,
    /// Ring members (`host:port` each); empty means this node alone.
    #[serde(deserialize_with = "list_or_csv")]
    pub ring_nodes: Vec<String>,
    /// This node's member name; defaults to `gateway_listen`.
    #[serde(deserialize_with = "opt_text")]
    pub ring_self: Option<String>,
    pub virtual_nodes: u32,
    /// The secret the `sign` keys are derived from; generated under `data_dir` when unset.
    #[serde(deserialize_with = "opt_text")]
    pub cookie_secret: Option<String>,
    /// Authenticates requests forwarded between ring nodes; random per process when unset.
    #[serde(deserialize_with = "opt_text")]
    pub cluster_secret: Option<String>,
    /// How long a login lasts.
    pub session_ttl_secs: u64,
    /// Orders the worker writes in one transaction.
    pub worker_batch: usize,
    /// Worker threads of the gateway (0: one per core).
    pub gateway_threads: usize,
    /// The shop's name on every page.
    pub shop_name: String,
    /// ISO 4217 code of the currency prices are kept in (their minor unit: cents for USD).
    pub currency: String,
    /// The shop's public address (`https://shop.example`), for the sitemap's absolute URLs;
    /// `http://{gateway_listen}` when unset.
    #[serde(deserialize_with = "opt_text")]
    pub site_url: Option<String>,
    /// Earlier cookie secrets whose tokens still log shoppers in (key rotation); new tokens
    /// use `cookie_secret`.
    #[serde(deserialize_with = "list_or_csv")]
    pub cookie_secret_previous: Vec<String>,
    /// The `Secure` flag on `uid` and `sign`: set it when shoppers reach the shop over HTTPS.
    pub cookie_secure: bool,
    /// Addresses (or CIDR ranges) of proxies whose `X-Forwarded-For` names the client.
    #[serde(deserialize_with = "list_or_csv")]
    pub trusted_proxies: Vec<String>,
    /// Failed logins of one user name, or from one client address, before more wait.
    pub login_failures_per_name: u32,
    pub login_failures_per_address: u32,
    /// The window those failures are counted in, and the longest wait.
    pub login_window_secs: u64,
    /// Registrations one client address may attempt per `login_window_secs`.
    pub register_per_address: u32,
    /// `text` (colours only on a terminal) or `json` (one object per line).
    pub log_format: String,
    /// How long before `saleStart` a product's waiting room opens (the prequeue).
    pub queue_prequeue_secs: u64,
    /// `admitPerSecond` of a product whose admin left it unset.
    pub queue_admit_per_second: u32,
    /// How long an admitted shopper may Buy.
    pub queue_pass_secs: u64,
    /// Leading zero bits of the waiting room's proof of work (18: about a second in a browser).
    pub queue_pow_difficulty: u8,
    /// Leading zero bits of the proof of work a registration needs; 0 turns it off.
    pub register_pow_difficulty: u8,
    /// The shop's time zone (an IANA name such as `Europe/Paris`): the admin shows and takes
    /// times in it; everything is stored and sent as UTC.
    pub time_zone: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://data/flashsale.db".into(),
            stock_url: "memory:".into(),
            queue_url: "memory:".into(),
            stock_prefix: "flashsale:".into(),
            queue_name: "flashsale.orders".into(),
            worker_prefetch: 1000,
            gateway_listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:8081".into(),
            metrics_listen: None,
            dist: "dist".into(),
            data_dir: "data".into(),
            admin_token: None,
            admin_user: "admin".into(),
            admin_password: None,
            cooldown_secs: 10,
            cooldown_capacity: 2_000_000,
            ring_nodes: Vec::new(),
            ring_self: None,
            virtual_nodes: crate::ring::DEFAULT_VIRTUAL_NODES,
            cookie_secret: None,
            cluster_secret: None,
            session_ttl_secs: 7 * 24 * 3600,
            // Near the database's limit: a gateway's group is up to 500 orders.
            worker_batch: 1000,
            gateway_threads: 0,
            shop_name: "Flashsale".into(),
            currency: "USD".into(),
            site_url: None,
            cookie_secret_previous: Vec::new(),
            cookie_secure: false,
            trusted_proxies: Vec::new(),
            login_failures_per_name: 10,
            login_failures_per_address: 30,
            login_window_secs: 300,
            register_per_address: 20,
            log_format: "text".into(),
            queue_prequeue_secs: 900,
            queue_admit_per_second: crate::domain::DEFAULT_ADMIT_PER_SECOND,
            queue_pass_secs: 300,
            queue_pow_difficulty: 18,
            register_pow_difficulty: 0,
            time_zone: "UTC".into(),
        }
    }
}

impl Config {
    /// The public address of the shop, without a trailing slash.
    pub fn site_url(&self) -> String {
        match &self.site_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.gateway_listen),
        }
    }

    /// [`Self::time_zone`] parsed; an unknown name is an error saying what a good one is.
    pub fn shop_time_zone(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.time_zone.trim().parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "time_zone must be an IANA time zone name such as UTC, Europe/Paris or \
                 America/New_York, got {:?}",
                self.time_zone
            ))
        })
    }
}

impl std::fmt::Debug for Config {
    // Secrets are shown only as set / unset, so the config can be logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &Option<String>| if s.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("stock_url", &redact_url(&self.stock_url))
            .field("queue_url", &redact_url(&self.queue_url))
            .field("stock_prefix", &self.stock_prefix)
            .field("queue_name", &self.queue_name)
            .field("worker_prefetch", &self.worker_prefetch)
            .field("gateway_listen", &self.gateway_listen)
            .field("admin_listen", &self.admin_listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("dist", &self.dist)
            .field("data_dir", &self.data_dir)
            .field("admin_token", &secret(&self.admin_token))
            .field("admin_user", &self.admin_user)
            .field("admin_password", &secret(&self.admin_password))
            .field("cooldown_secs", &self.cooldown_secs)
            .field("cooldown_capacity", &self.cooldown_capacity)
            .field("ring_nodes", &self.ring_nodes)
            .field("ring_self", &self.ring_self)
            .field("virtual_nodes", &self.virtual_nodes)
            .field("cookie_secret", &secret(&self.cookie_secret))
            .field("cluster_secret", &secret(&self.cluster_secret))
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("worker_batch", &self.worker_batch)
            .field("gateway_threads", &self.gateway_threads)
            .field("shop_name", &self.shop_name)
            .field("currency", &self.currency)
            .field("time_zone", &self.time_zone)
            .field("site_url", &self.site_url)
            .field(
                "cookie_secret_previous",
                &format!("<{} set>", self.cookie_secret_previous.len()),
            )
            .field("cookie_secure", &self.cookie_secure)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("login_failures_per_name", &self.login_failures_per_name)
            .field(
                "login_failures_per_address",
                &self.login_failures_per_address,
            )
            .field("login_window_secs", &self.login_window_secs)
            .field("register_per_address", &self.register_per_address)
            .field("log_format", &self.log_format)
            .field("queue_prequeue_secs", &self.queue_prequeue_secs)
            .field("queue_admit_per_second", &self.queue_admit_per_second)
            .field("queue_pass_secs", &self.queue_pass_secs)
            .field("queue_pow_difficulty", &self.queue_pow_difficulty)
            .field("register_pow_difficulty", &self.register_pow_difficulty)
            .finish()
    }
}

/// `scheme://user:password@host` -> `scheme://user:***@host`, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A secret or name given in the environment may look like a number ("12345"); it is text.
fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
        Float(f64),
        Bool(bool),
    }
    Ok(Option::<Scalar>::deserialize(d)?.map(|v| match v {
        Scalar::Text(s) => s,
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Bool(b) => b.to_string(),
    }))
}

fn list_or_csv<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(list) => list,
        ListOrCsv::Csv(csv) => csv
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}
impl Config {
    /// This node's name on the ring.
    pub fn ring_self(&self) -> String {
        self.ring_self
            .clone()
            .unwrap_or_else(|| self.gateway_listen.clone())
    }

    /// The ring's members; this node alone when none are configured.
    pub fn ring_members(&self) -> Vec<String> {
        if self.ring_nodes.is_empty() {
            vec![self.ring_self()]
        } else {
            self.ring_nodes.clone()
        }
    }
    /// `trusted_proxies` parsed; a plain address is a range of one. `Err` names the bad entry.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| p.clone())
            })
            .collect()
    }
}
