//! Secrets in the configuration: strong enough, or generated once and kept in a file.

use super::{Config, ConfigError};
use crate::secrets::random_secret;
use std::path::Path;

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

impl Config {
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
