//! The ledger: this `Site`'s copy of the manifest (what each file in `dist/` was made from),
//! read at open, rewritten shard by shard after a publish, and the sweeps of files it does
//! not list.

use std::collections::HashSet;

use flashsale_core::site_manifest::{self as manifest, FileEntry, ShardEntry};

use super::Site;
use crate::publish;
use crate::SitegenError;

impl Site {
    pub(super) fn entry(&self, path: &str) -> Option<&FileEntry> {
        self.shards.get(&manifest::shard_of(path))?.get(path)
    }

    /// Sets or clears one entry; returns the shard it lives in.
    pub(super) fn set_entry(&mut self, path: &str, entry: Option<FileEntry>) -> String {
        let shard = manifest::shard_of(path);
        let files = self.shards.entry(shard.clone()).or_default();
        match entry {
            Some(e) => {
                files.insert(path.to_owned(), e);
            }
            None => {
                files.remove(path);
            }
        }
        shard
    }

    pub(super) fn load_manifest(&mut self) -> Result<(), SitegenError> {
        let dist = &self.opts.dist;
        let damaged = |e: manifest::ReadError| SitegenError::Manifest {
            path: e.path().to_owned(),
            reason: match &e {
                manifest::ReadError::Changed { .. } => {
                    "its hash is not the one recorded".to_owned()
                }
                manifest::ReadError::Io { source, .. } => source.to_string(),
                manifest::ReadError::Damaged { reason, .. } => reason.clone(),
            },
        };
        let top = match manifest::read_top(dist) {
            Ok(Some(top)) => top,
            Ok(None) => return Ok(()),
            Err(manifest::ReadError::Io { path, source }) => {
                return Err(SitegenError::io("reading", &path)(source))
            }
            Err(e) => return Err(damaged(e)),
        };
        self.top_seen = Some(top.hash);
        for (name, meta) in &top.shards {
            let files = manifest::read_shard(dist, name, meta).map_err(damaged)?;
            self.shards.insert(name.clone(), files);
        }
        self.shard_meta = top.shards;
        Ok(())
    }

    /// Removes product pages the manifest never knew of whose product is gone: left by a
    /// render without a manifest (`--full`, or a damaged one). Only names this crate writes.
    pub(super) fn sweep_unlisted_pages(&self) -> Result<(), SitegenError> {
        let dir = self.opts.dist.join("product");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let catalogue = self.catalogue.as_ref();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = page_id(&name.to_string_lossy()) else {
                continue;
            };
            if !catalogue.is_some_and(|c| c.contains_key(&id)) {
                tracing::debug!(page = %entry.path().display(), "removed page of a product no longer listed");
                publish::remove(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Removes shard files the top-level manifest no longer names.
    pub(super) fn sweep_orphan_shards(&self) -> Result<(), SitegenError> {
        let dir = self.opts.dist.join(manifest::DIR).join("shards");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let listed = name
                .strip_suffix(".txt")
                .is_some_and(|shard| self.shard_meta.contains_key(shard));
            if !listed && !name.starts_with('.') {
                publish::remove(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Rewrites the shards that changed, then the top-level manifest that names them all.
    pub(super) fn write_manifest(&mut self, dirty: &HashSet<String>) -> Result<(), SitegenError> {
        let dist = self.opts.dist.clone();
        for name in dirty {
            let path = dist.join(manifest::shard_path(name));
            match self.shards.get(name).filter(|files| !files.is_empty()) {
                Some(files) => {
                    let text = manifest::write_shard(files);
                    publish::write_atomic(&path, text.as_bytes())?;
                    self.shard_meta.insert(
                        name.clone(),
                        ShardEntry {
                            hash: manifest::content_hash(text.as_bytes()),
                            len: text.len() as u64,
                        },
                    );
                }
                None => {
                    self.shards.remove(name);
                    self.shard_meta.remove(name);
                    publish::remove(&path)?;
                }
            }
        }
        let top = manifest::write_top(&self.shard_meta);
        publish::write_atomic(&dist.join(manifest::TOP), top.as_bytes())?;
        self.top_seen = Some(manifest::content_hash(top.as_bytes()));
        Ok(())
    }
}

pub(super) fn twins(path: &str) -> [String; 2] {
    [format!("{path}.gz"), format!("{path}.br")]
}

pub(super) fn is_twin(path: &str) -> bool {
    path.ends_with(".gz") || path.ends_with(".br")
}

pub(super) fn is_asset(path: &str) -> bool {
    path.starts_with("static/")
}

/// The id of a product page file as this crate writes it (`42.html`, `42.html.gz`), so a
/// stray file (`042.html`, `notes.txt`) is never mistaken for one.
fn page_id(file_name: &str) -> Option<i64> {
    let stem = file_name
        .trim_end_matches(".gz")
        .trim_end_matches(".br")
        .strip_suffix(".html")?;
    let id: i64 = stem.parse().ok()?;
    (id.to_string() == stem).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_parse_only_in_canonical_form() {
        assert_eq!(page_id("42.html"), Some(42));
        assert_eq!(page_id("42.html.br"), Some(42));
        assert_eq!(page_id("-3.html"), Some(-3));
        assert_eq!(page_id("042.html"), None);
        assert_eq!(page_id("+42.html"), None);
        assert_eq!(page_id("42.htm"), None);
        assert_eq!(page_id(".42.html.1-0.tmp"), None);
    }
}
