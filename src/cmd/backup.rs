//! `flashsale backup FILE`: a consistent copy of the SQLite database, taken while the shop
//! runs (SQLite's `VACUUM INTO`: one read transaction, so the copy is one moment of the shop,
//! orders and outbox alike). MySQL/MariaDB have their own tools; the error says which.

use anyhow::{bail, Context};
use flashsale_core::db::sqlite_file;
use flashsale_core::{Config, Db};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the copy; must not exist yet. Readable by its owner only.
    pub file: PathBuf,
}

pub async fn run(config: &Config, args: Args) -> anyhow::Result<()> {
    let Some(source) = sqlite_file(&config.database_url) else {
        bail!(
            "flashsale backup copies a SQLite database; for MySQL/MariaDB use \
             `mariadb-dump --single-transaction` or `mariabackup` (see the README)"
        );
    };
    if !source.exists() {
        bail!("there is no database at {} to back up", source.display());
    }
    let db = Db::connect(&config.database_url).await?;
    let started = std::time::Instant::now();
    let copied = db.backup_to(&args.file).await;
    db.close().await;
    copied.with_context(|| format!("could not back up to {}", args.file.display()))?;
    say!(
        "Backed up {} to {} in {:.1} s.",
        source.display(),
        args.file.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
