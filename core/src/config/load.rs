//! Reading the configuration (defaults, then the file, then the environment) and refusing
//! what cannot work, before anything starts.

use super::{redact_url, Config, ConfigError};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use std::path::Path;

impl Config {
    /// Defaults, then the file (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(file, Env::prefixed("FLASHSALE_"))
    }

    pub(super) fn load_from(file: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
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
}
