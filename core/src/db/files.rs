//! The SQLite file: its URL, created private (0600 in a 0700 folder), and consistent backups.

use super::{Db, DbError, Dialect};
use std::path::Path;

impl Db {
    /// Writes a consistent copy of the SQLite database to `path` (which must not exist),
    /// while others keep writing: `VACUUM INTO` reads in one transaction. The copy is written
    /// beside `path` and renamed into place, so `path` is either whole or absent.
    pub async fn backup_to(&self, path: &Path) -> Result<(), DbError> {
        if self.dialect != Dialect::Sqlite {
            return Err(DbError::BackupUnsupported);
        }
        if path.exists() {
            return Err(DbError::BackupExists(path.display().to_string()));
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        // Created empty and private first: SQLite writes into an empty file, keeping its mode.
        let _ = std::fs::remove_file(&partial);
        create_private_file(&partial)
            .map_err(|e| DbError::CreateFile(partial.display().to_string(), e))?;
        let copied = sqlx::query("VACUUM INTO ?")
            .bind(partial.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
        std::fs::rename(&partial, path)
            .map_err(|e| DbError::CreateFile(path.display().to_string(), e))
    }
}

/// The file of a `sqlite://…` URL; `None` for another database or an in-memory SQLite.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    (path != ":memory:" && !path.is_empty()).then(|| path.into())
}

/// `sqlite://data/x.db` -> the same URL with its folder created (0700) and the file created
/// (0600; SQLite gives its `-wal` and `-shm` files the same mode), and `mode=rwc`.
pub(super) fn sqlite_url(url: &str) -> Result<String, DbError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            create_private_dir(dir)
                .map_err(|e| DbError::CreateDir(dir.display().to_string(), e))?;
        }
        if !query.contains("mode=ro") {
            create_private_file(Path::new(path))
                .map_err(|e| DbError::CreateFile(path.to_string(), e))?;
        }
    }
    let mode = if query.contains("mode=") {
        ""
    } else {
        "mode=rwc"
    };
    let query = [query, mode]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("&");
    Ok(format!("sqlite://{path}?{query}"))
}

/// Creates `dir` (and its parents) readable by the owner only; an existing folder is left as
/// it is (the operator chose its mode).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates an empty `path` readable by the owner only, unless it exists: SQLite would create
/// it with the umask's mode (usually world-readable), and shoppers' password hashes live there.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
