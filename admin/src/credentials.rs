//! The admin's credentials: a user name and password for the pages, a bearer token for the
//! API.
//!
//! The password is `admin_password` from the config (or `FLASHSALE_ADMIN_PASSWORD`); when it
//! is unset, the first run generates one, keeps only its Argon2 hash in
//! `data_dir/admin_password.argon2` (owner-only) and hands the password back once, for
//! `flashsale up` to print. The token is `admin_token`, or generated into
//! `data_dir/admin_token` on first run. Neither is ever logged.

use flashsale_core::secrets::{
    create_secret_file, generate_password, hash_password, is_password_hash, verify_password,
};
use flashsale_core::Config;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("could not read or write the admin password file {path}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the admin password file {0} does not hold an Argon2 hash; delete it to generate a new password")]
    BadHash(PathBuf),
    #[error("hashing the admin password failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Token(#[from] flashsale_core::config::ConfigError),
}

#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    /// PHC string of the password's Argon2 hash.
    password_hash: String,
    /// The bearer token of `/api/`.
    pub api_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// What the first run generated, to show the admin once.
#[derive(Clone, Default)]
pub struct FirstRun {
    /// The generated password (only when none was configured and no hash was on disk).
    pub password: Option<String>,
    /// Whether the API token was generated just now.
    pub token_created: bool,
}

impl std::fmt::Debug for FirstRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstRun")
            .field("password", &self.password.as_ref().map(|_| "<generated>"))
            .field("token_created", &self.token_created)
            .finish()
    }
}

impl Credentials {
    /// The configured credentials, or those kept under `data_dir`, generating what is missing.
    /// Slow (one Argon2 hash when the password is configured): call it off the async threads.
    pub fn load(config: &Config) -> Result<(Credentials, FirstRun), CredentialsError> {
        let mut first = FirstRun::default();
        let password_hash = match &config.admin_password {
            Some(password) => hash(password)?,
            None => {
                let path = config.data_dir.join("admin_password.argon2");
                let (hash, generated) = hash_file(&path)?;
                first.password = generated;
                hash
            }
        };
        first.token_created =
            config.admin_token.is_none() && !config.data_dir.join("admin_token").exists();
        let api_token = config.admin_token()?;
        Ok((
            Credentials {
                user: config.admin_user.clone(),
                password_hash,
                api_token,
            },
            first,
        ))
    }

    /// Credentials from plain values (tests, embedding).
    pub fn new(user: &str, password: &str, api_token: &str) -> Result<Self, CredentialsError> {
        Ok(Credentials {
            user: user.to_string(),
            password_hash: hash(password)?,
            api_token: api_token.to_string(),
        })
    }

    /// Whether `user` and `password` are the admin's. Slow by design (Argon2), and as slow for
    /// a wrong user name as for a wrong password.
    pub fn check(&self, user: &str, password: &str) -> bool {
        let user_ok = crate::session::same_secret(user, &self.user);
        let password_ok = verify_password(password, &self.password_hash);
        user_ok && password_ok
    }
}

fn hash(password: &str) -> Result<String, CredentialsError> {
    hash_password(password).map_err(|e| CredentialsError::Hash(e.to_string()))
}

/// The hash kept in `path`, or a new password's hash written there (owner-only) and the new
/// password.
fn hash_file(path: &Path) -> Result<(String, Option<String>), CredentialsError> {
    let fail = |source| CredentialsError::File {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => {
            let stored = s.trim().to_string();
            if !is_password_hash(&stored) {
                return Err(CredentialsError::BadHash(path.to_path_buf()));
            }
            return Ok((stored, None));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let password = generate_password();
    let hashed = hash(&password)?;
    // An empty file left by an interrupted first run (before files were written whole) is
    // replaced; a file that appeared meanwhile (another process's first run) wins.
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        std::fs::remove_file(path).map_err(fail)?;
    }
    match create_secret_file(path, &hashed) {
        Ok(()) => Ok((hashed, Some(password))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => hash_file(path),
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_run_generates_a_password_and_keeps_only_its_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let (creds, first) = Credentials::load(&config).expect("first run");
        let password = first.password.expect("generated");
        assert!(first.token_created);
        assert!(creds.check("admin", &password));
        assert!(!creds.check("admin", "wrong password"));
        assert!(!creds.check("root", &password));
        let on_disk = std::fs::read_to_string(dir.path().join("data/admin_password.argon2"))
            .expect("hash file");
        assert!(on_disk.starts_with("$argon2") && !on_disk.contains(&password));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("data/admin_password.argon2"))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "owner only");
        }

        // The second run finds them and shows nothing.
        let (again, second) = Credentials::load(&config).expect("second run");
        assert!(second.password.is_none() && !second.token_created);
        assert!(again.check("admin", &password));
        assert_eq!(again.api_token, creds.api_token);
        assert!(!format!("{again:?}{second:?}").contains(&again.api_token));
    }

    #[test]
    fn configured_credentials_win_and_write_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            data_dir: dir.path().join("data"),
            admin_user: "boss".into(),
            admin_password: Some("correct horse battery".into()),
            admin_token: Some("tok".into()),
            ..Config::default()
        };
        let (creds, first) = Credentials::load(&config).expect("load");
        assert!(first.password.is_none() && !first.token_created);
        assert!(creds.check("boss", "correct horse battery"));
        assert_eq!(creds.api_token, "tok");
        assert!(!dir.path().join("data").exists());
    }
}
