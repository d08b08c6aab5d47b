//! Configuration: one TOML file plus `FLASHSALE_*` environment overrides.
//!
//! Every key can be set in the file (`--config` or `FLASHSALE_CONFIG`) or in the environment as
//! `FLASHSALE_` + the key in capitals; the environment wins. Unknown keys are an error, so a
//! typo is caught at start instead of silently ignored.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};
use std::path::{Path, PathBuf};

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

/// The shortest secret accepted, in bytes: `openssl rand -hex 32` gives 64.
pub const MIN_SECRET_BYTES: usize = 32;

/// Refuses a secret an attacker could guess: shorter than [`MIN_SECRET_BYTES`] (empty
/// included), or made of a handful of distinct characters ("aaaa…", "abababab…").
pub fn check_secret(setting: &str, secret: &str) -> Result<(), ConfigError> {
    let weak = |why: String| ConfigError::WeakSecret {
        setting: setting.to_string(),
        why,
        fix: "make one with `openssl rand -hex 32`".to_string(),
    };
    if secret.trim().is_empty() {
        return Err(weak("empty".into()));
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(weak(format!(
            "{} bytes long; it must be at least {MIN_SECRET_BYTES}",
            secret.len()
        )));
    }
    let mut seen = [false; 256];
    for b in secret.bytes() {
        seen[usize::from(b)] = true;
    }
    if seen.iter().filter(|s| **s).count() < 8 {
        return Err(weak("too repetitive to be random".into()));
    }
    Ok(())
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
    /// Unacknowledged orders a worker may hold at once (RabbitMQ prefetch).
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
            worker_batch: 200,
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
    /// Defaults, then the file (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(file, Env::prefixed("FLASHSALE_"))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Missing(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file(path));
        }
        // FLASHSALE_CONFIG names the file; it is not a key.
        figment = figment.merge(env.ignore(&["config"]));
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if !(self.database_url.starts_with("sqlite:") || self.database_url.starts_with("mysql:")) {
            return invalid(format!(
                "database_url must start with sqlite: or mysql:, got {}",
                redact_url(&self.database_url)
            ));
        }
        if !(self.stock_url == "memory:" || self.stock_url.starts_with("redis")) {
            return invalid("stock_url must be memory: or redis://…".into());
        }
        if !(self.queue_url == "memory:" || self.queue_url.starts_with("amqp")) {
            return invalid("queue_url must be memory: or amqp://…".into());
        }
        if self.virtual_nodes == 0 {
            return invalid("virtual_nodes must be at least 1".into());
        }
        if self.worker_batch == 0 {
            return invalid("worker_batch must be at least 1".into());
        }
        if usize::from(self.worker_prefetch) < self.worker_batch.min(usize::from(u16::MAX)) {
            return invalid(format!(
                "worker_prefetch ({}) must be at least worker_batch ({}), or batches never fill",
                self.worker_prefetch, self.worker_batch
            ));
        }
        if self.stock_prefix.contains(['{', '}']) {
            return invalid(
                "stock_prefix must not contain { or } (they form Redis Cluster hash tags)".into(),
            );
        }
        if self.queue_pass_secs == 0 {
            return invalid(
                "queue_pass_secs must be at least 1, or no admitted shopper can buy".into(),
            );
        }
        // Past 32 bits a challenge takes a browser hours; 64 is the most a check can count.
        for (key, bits) in [
            ("queue_pow_difficulty", self.queue_pow_difficulty),
            ("register_pow_difficulty", self.register_pow_difficulty),
        ] {
            if bits > 32 {
                return invalid(format!("{key} must be at most 32 bits, got {bits}"));
            }
        }
        if !crate::money::is_currency_code(&self.currency) {
            return invalid(format!(
                "currency must be an ISO 4217 code of three capital letters (USD, EUR, JPY), got {:?}",
                self.currency
            ));
        }
        if self.admin_user.trim().is_empty() {
            return invalid("admin_user must not be empty".into());
        }
        if self
            .admin_password
            .as_deref()
            .is_some_and(|p| p.chars().count() < 8)
        {
            return invalid("admin_password must be at least 8 characters".into());
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return invalid(format!(
                "log_format must be \"text\" or \"json\", got {:?}",
                self.log_format
            ));
        }
        if let Err(bad) = self.trusted_proxy_nets() {
            return invalid(format!(
                "trusted_proxies: {bad:?} is not an address or a CIDR range"
            ));
        }
        if self.login_window_secs == 0
            || self.login_failures_per_name == 0
            || self.login_failures_per_address == 0
        {
            return invalid(
                "login_window_secs, login_failures_per_name and login_failures_per_address must                  be at least 1"
                    .into(),
            );
        }
        self.shop_time_zone()?;
        if let Some(token) = &self.admin_token {
            if token.trim().is_empty() {
                return invalid(
                    "admin_token is set but empty; unset it to have one generated, or make one \
                     with `openssl rand -hex 32`"
                        .into(),
                );
            }
        }
        Ok(())
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

    /// What a node joining the ring needs: to be one of `ring_nodes`, and a strong
    /// `cluster_secret` shared by every member when there are several. Only the processes that
    /// join the ring (the gateway, `flashsale up`) check it: the worker, the admin, `migrate`
    /// and `audit` read the same shared config without being members.
    pub fn ring_check(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.ring_nodes.len() > 1 {
            let me = self.ring_self();
            if !self.ring_nodes.contains(&me) {
                return invalid(format!(
                    "this node ({me}: ring_self, or gateway_listen when unset) is not one of ring_nodes"
                ));
            }
            if self.cluster_secret.is_none() {
                return invalid(
                    "a ring of several nodes needs cluster_secret (FLASHSALE_CLUSTER_SECRET), the \
                     same on every node, to authenticate requests forwarded between them; make \
                     one with `openssl rand -hex 32`"
                        .into(),
                );
            }
        }
        self.cluster_secret().map(|_| ())
    }

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

    /// The cookie secret: configured, or kept in `data_dir/cookie_secret` (created on first
    /// run, readable by the owner only) so logins survive a restart. A weak one is refused:
    /// with it anyone could forge a login.
    pub fn cookie_secret(&self) -> Result<String, ConfigError> {
        match &self.cookie_secret {
            Some(s) => {
                check_secret("cookie_secret (FLASHSALE_COOKIE_SECRET)", s)?;
                Ok(s.clone())
            }
            None => secret_file(&self.data_dir.join("cookie_secret")),
        }
    }

    /// Earlier cookie secrets still accepted (rotation); each must be as strong as a current one.
    pub fn cookie_secrets_previous(&self) -> Result<Vec<String>, ConfigError> {
        for s in &self.cookie_secret_previous {
            check_secret(
                "a cookie_secret_previous (FLASHSALE_COOKIE_SECRET_PREVIOUS)",
                s,
            )?;
        }
        Ok(self.cookie_secret_previous.clone())
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

    /// The admin API token: configured, or kept in `data_dir/admin_token`.
    pub fn admin_token(&self) -> Result<String, ConfigError> {
        match &self.admin_token {
            Some(s) => Ok(s.clone()),
            None => secret_file(&self.data_dir.join("admin_token")),
        }
    }

    /// The cluster secret: configured (and then strong, empty refused: with a guessable one a
    /// shopper could forge the forwarding marker), or random for this process (a ring of one
    /// needs no shared secret).
    pub fn cluster_secret(&self) -> Result<String, ConfigError> {
        match &self.cluster_secret {
            Some(s) => {
                check_secret("cluster_secret (FLASHSALE_CLUSTER_SECRET)", s)?;
                Ok(s.clone())
            }
            None => Ok(random_secret()),
        }
    }
}

pub use crate::secrets::random_secret;

/// Reads a secret from `path`, creating it with a random value if it does not exist.
///
/// The file appears whole or not at all: the secret is written to a temporary file, synced,
/// then linked into place (a crash in between leaves no empty secret behind). An empty or
/// short file is refused rather than silently replaced or used.
fn secret_file(path: &Path) -> Result<String, ConfigError> {
    let fail = |source| ConfigError::SecretFile {
        path: path.to_path_buf(),
        source,
    };
    let read = |path: &Path| -> Result<String, ConfigError> {
        let secret = std::fs::read_to_string(path)
            .map_err(fail)?
            .trim()
            .to_string();
        check_secret(&format!("the secret file {}", path.display()), &secret).map_err(
            |e| match e {
                ConfigError::WeakSecret { setting, why, .. } => ConfigError::WeakSecret {
                    setting,
                    why,
                    fix: "delete it to have a new one generated (for the cookie secret that \
                          logs every shopper out), or write one made with `openssl rand -hex 32`"
                        .into(),
                },
                other => other,
            },
        )?;
        Ok(secret)
    };
    match std::fs::metadata(path) {
        Ok(_) => return read(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let secret = random_secret();
    match crate::secrets::create_secret_file(path, &secret) {
        Ok(()) => Ok(secret),
        // Another process created it first: use its secret.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(vars: &[(&str, &str)]) -> Env {
        // figment's Env reads the real environment; a unique prefix per test keeps tests apart.
        let prefix = format!("FSTEST{}_", rand::random::<u32>());
        for (k, v) in vars {
            std::env::set_var(format!("{prefix}{k}"), v);
        }
        Env::prefixed(&prefix)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::load_from(None, env_with(&[])).expect("defaults are valid");
        assert_eq!(c.database_url, "sqlite://data/flashsale.db");
        assert_eq!(c.stock_url, "memory:");
        assert_eq!(c.queue_url, "memory:");
        assert_eq!(c.gateway_listen, "127.0.0.1:8080");
        assert_eq!(c.admin_listen, "127.0.0.1:8081");
        assert_eq!(c.cooldown_secs, 10);
        assert_eq!(c.queue_prequeue_secs, 900);
        assert_eq!(c.queue_admit_per_second, 100);
        assert_eq!(c.queue_pass_secs, 300);
        assert_eq!(c.register_pow_difficulty, 0);
        assert_eq!(c.shop_time_zone().expect("UTC"), chrono_tz::UTC);
        assert_eq!(c.currency, "USD");
        assert_eq!(c.ring_members(), vec!["127.0.0.1:8080".to_string()]);
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("flashsale.toml");
        std::fs::write(
            &file,
            "cooldown_secs = 3\ngateway_listen = \"127.0.0.1:9000\"\n",
        )
        .expect("write config");
        let env = env_with(&[
            ("COOLDOWN_SECS", "5"),
            ("RING_NODES", "127.0.0.1:9000, 127.0.0.1:9001"),
            ("COOKIE_SECRET", "12345"),
            ("CLUSTER_SECRET", "shared by the ring"),
        ]);
        let c = Config::load_from(Some(&file), env).expect("valid");
        assert_eq!(c.cooldown_secs, 5);
        assert_eq!(c.gateway_listen, "127.0.0.1:9000");
        assert_eq!(c.ring_nodes, vec!["127.0.0.1:9000", "127.0.0.1:9001"]);
        assert_eq!(c.cookie_secret.as_deref(), Some("12345"));
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("flashsale.toml");
        std::fs::write(&file, "cooldwn_secs = 3\n").expect("write config");
        let err = Config::load_from(Some(&file), env_with(&[])).expect_err("typo");
        assert!(err.to_string().contains("cooldwn_secs"), "{err}");

        let err = Config::load_from(None, env_with(&[("DATABASE_URL", "postgres://x")]))
            .expect_err("unsupported database");
        assert!(err.to_string().contains("database_url"), "{err}");

        let err = Config::load_from(None, env_with(&[("ADMIN_PASSWORD", "short")]))
            .expect_err("a weak admin password");
        assert!(err.to_string().contains("admin_password"), "{err}");
        let c = Config::load_from(
            None,
            env_with(&[("ADMIN_USER", "boss"), ("ADMIN_PASSWORD", "12345678")]),
        )
        .expect("admin credentials from the environment");
        assert_eq!(c.admin_user, "boss");
        assert_eq!(c.admin_password.as_deref(), Some("12345678"));

        let err = Config::load_from(None, env_with(&[("TIME_ZONE", "Mars/Olympus")]))
            .expect_err("an unknown time zone");
        assert!(err.to_string().contains("time_zone"), "{err}");
        let c = Config::load_from(None, env_with(&[("TIME_ZONE", "Europe/Paris")]))
            .expect("a known time zone");
        assert_eq!(c.shop_time_zone().expect("valid"), chrono_tz::Europe::Paris);
        let c = Config::load_from(None, env_with(&[("CURRENCY", "EUR")])).expect("a currency");
        assert_eq!(c.currency, "EUR");
        for bad in ["eur", "EURO", "€"] {
            let err = Config::load_from(None, env_with(&[("CURRENCY", bad)]))
                .expect_err("not an ISO 4217 code");
            assert!(err.to_string().contains("currency"), "{bad}: {err}");
        }

        let missing = dir.path().join("nope.toml");
        assert!(matches!(
            Config::load_from(Some(&missing), env_with(&[])),
            Err(ConfigError::Missing(_))
        ));
    }

    const STRONG: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    #[test]
    fn a_ring_needs_its_node_listed_and_a_shared_secret() {
        let ring = ("RING_NODES", "127.0.0.1:9000,127.0.0.1:9001");
        let c = Config::load_from(
            None,
            env_with(&[ring, ("GATEWAY_LISTEN", "127.0.0.1:9000")]),
        )
        .expect("the shared config loads");
        let err = c.ring_check().expect_err("no cluster secret");
        assert!(err.to_string().contains("cluster_secret"), "{err}");
        let c = Config::load_from(
            None,
            env_with(&[
                ring,
                ("RING_SELF", "127.0.0.1:9002"),
                ("CLUSTER_SECRET", STRONG),
            ]),
        )
        .expect("the shared config loads");
        let err = c.ring_check().expect_err("not a member");
        assert!(err.to_string().contains("not one of ring_nodes"), "{err}");
        let ok = Config::load_from(
            None,
            env_with(&[
                ring,
                ("GATEWAY_LISTEN", "127.0.0.1:9001"),
                ("CLUSTER_SECRET", STRONG),
            ]),
        )
        .expect("a valid ring");
        ok.ring_check().expect("a member with a strong secret");
        assert_eq!(ok.ring_self(), "127.0.0.1:9001");
    }

    /// Regression (issue 14, finding 3): with FLASHSALE_RING_NODES in the shared environment,
    /// migrate, worker, admin and audit refused to start because they are not ring members.
    #[test]
    fn a_shared_ring_config_loads_for_processes_outside_the_ring() {
        let c = Config::load_from(
            None,
            env_with(&[
                ("RING_NODES", "10.0.0.1:8080,10.0.0.2:8080"),
                ("CLUSTER_SECRET", STRONG),
            ]),
        )
        .expect("a worker or the admin on another machine loads the shared config");
        assert!(c.ring_check().is_err(), "but it could not join the ring");
    }

    /// Regression (issue 14, finding 2): an empty cluster secret passed as "set", so a shopper
    /// could sign the forwarding marker with the empty key.
    #[test]
    fn an_empty_or_short_cluster_secret_is_refused() {
        for weak in ["", "s", "short but not 32 bytes", &"ab".repeat(20)] {
            let c = Config::load_from(
                None,
                env_with(&[
                    ("RING_NODES", "127.0.0.1:9000,127.0.0.1:9001"),
                    ("GATEWAY_LISTEN", "127.0.0.1:9000"),
                    ("CLUSTER_SECRET", weak),
                ]),
            )
            .expect("loads");
            let err = c.ring_check().expect_err("a weak cluster secret");
            assert!(
                err.to_string().contains("FLASHSALE_CLUSTER_SECRET")
                    && err.to_string().contains("openssl rand"),
                "{weak:?}: {err}"
            );
            // A single node with a configured but weak secret is refused too.
            let c = Config {
                cluster_secret: Some(weak.to_string()),
                ..Config::default()
            };
            assert!(c.cluster_secret().is_err(), "{weak:?}");
        }
    }

    /// Regression (issue 14, finding 1): an empty or one-byte cookie secret was accepted, and
    /// anyone could then forge a login for any shopper.
    #[test]
    fn an_empty_or_short_cookie_secret_is_refused() {
        for weak in ["", " ", "x", "12345", &"a".repeat(64)] {
            let c = Config::load_from(None, env_with(&[("COOKIE_SECRET", weak)])).expect("loads");
            let err = c.cookie_secret().expect_err("a weak cookie secret");
            let text = err.to_string();
            assert!(
                text.contains("FLASHSALE_COOKIE_SECRET") && text.contains("openssl rand"),
                "{weak:?}: {text}"
            );
        }
        let c = Config {
            cookie_secret: Some(STRONG.into()),
            ..Config::default()
        };
        assert_eq!(c.cookie_secret().expect("strong"), STRONG);
    }

    /// Regression (issue 14, finding 1): an empty `data/cookie_secret` (a crash between
    /// creating and writing it) was used as the key.
    #[test]
    fn an_empty_or_short_secret_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        for content in ["", "\n", "abc"] {
            std::fs::write(dir.path().join("cookie_secret"), content).expect("write");
            let err = c.cookie_secret().expect_err("a weak secret file");
            assert!(
                err.to_string().contains("cookie_secret") && err.to_string().contains("delete it"),
                "{content:?}: {err}"
            );
        }
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = Config {
            cookie_secret: Some("hunter2hunter2".into()),
            admin_password: Some("swordfish-admin".into()),
            admin_token: Some("tok3n-tok3n".into()),
            database_url: "mysql://root:pa55word@127.0.0.1/test".into(),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2")
                && !shown.contains("pa55word")
                && !shown.contains("swordfish")
                && !shown.contains("tok3n"),
            "{shown}"
        );
        assert!(shown.contains("mysql://root:***@127.0.0.1/test"), "{shown}");
    }

    #[test]
    fn generated_secret_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let first = c.cookie_secret().expect("created");
        assert_eq!(first.len(), 64);
        assert_eq!(c.cookie_secret().expect("read back"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("data/cookie_secret"))
                .expect("the file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "readable by the owner only");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path().join("data"))
            .expect("data dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("cookie_secret")],
            "no temporary file left"
        );
    }
}
