//! The published site, loaded into memory whole: one snapshot per publish.
//!
//! With sitegen's manifest (`dist/.flashsale/`), a snapshot is exactly one publish: every file
//! is checked against the content hash the manifest records, and a file that does not match
//! means a newer publish is being written, so the old snapshot is kept and loading is tried
//! again on the next tick. Files unchanged since the last snapshot are not read again.
//! Without a manifest (a `dist/` made by hand), the directory is scanned instead.
//!
//! Either way only regular files under `dist/` get in: hidden names are skipped and symlinks
//! that lead outside are refused, so serving from the snapshot cannot leave `dist/`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use flashsale_core::site_manifest::{self as manifest, ShardEntry};

/// One file's bytes and content hash.
#[derive(Clone)]
pub(crate) struct Blob {
    pub bytes: Bytes,
    pub hash: u64,
}

/// What a snapshot was loaded from, to tell whether the disk has moved on.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The top-level manifest's hash, and each shard's files as loaded.
    Manifest {
        top: u64,
        shards: BTreeMap<String, (ShardEntry, Arc<BTreeMap<String, manifest::FileEntry>>)>,
    },
    /// A scan: each file's (length, modification time).
    Scan {
        stamps: HashMap<String, (u64, SystemTime)>,
    },
    Empty,
}

pub(crate) struct Snapshot {
    pub files: HashMap<String, Blob>,
    pub origin: Origin,
}

/// Why a reload did not produce a snapshot.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// A publish is being written right now; the next tick will see it whole.
    #[error("a publish is in progress ({0})")]
    Racing(String),
    #[error("{0}")]
    Broken(String),
}

impl Snapshot {
    pub(crate) fn empty() -> Snapshot {
        Snapshot {
            files: HashMap::new(),
            origin: Origin::Empty,
        }
    }

    /// The site in `root` as it is now, reusing what `old` already holds. `Ok(None)` when
    /// nothing changed since `old`.
    pub(crate) fn load(root: &Path, old: &Snapshot) -> Result<Option<Snapshot>, LoadError> {
        match manifest::read_top(root) {
            Ok(Some(top)) => load_published(root, top, old),
            Ok(None) => scan(root, old),
            Err(e) => Err(LoadError::Broken(format!("reading the manifest: {e}"))),
        }
    }
}

fn load_published(
    root: &Path,
    top: manifest::Top,
    old: &Snapshot,
) -> Result<Option<Snapshot>, LoadError> {
    let old_shards = match &old.origin {
        Origin::Manifest { top: seen, .. } if *seen == top.hash => return Ok(None),
        Origin::Manifest { shards, .. } => Some(shards),
        _ => None,
    };

    let mut shards = BTreeMap::new();
    for (name, entry) in top.shards {
        let reused = old_shards
            .and_then(|s| s.get(&name))
            .filter(|(old_entry, _)| *old_entry == entry)
            .map(|(_, files)| files.clone());
        let files = match reused {
            Some(files) => files,
            None => Arc::new(manifest::read_shard(root, &name, &entry).map_err(|e| {
                if e.is_racing() {
                    LoadError::Racing(format!("shard {name}: {e}"))
                } else {
                    LoadError::Broken(format!("shard {name}: {e}"))
                }
            })?),
        };
        shards.insert(name, (entry, files));
    }

    let canonical_root = root
        .canonicalize()
        .map_err(|e| LoadError::Broken(format!("{}: {e}", root.display())))?;
    let mut files = HashMap::with_capacity(shards.values().map(|(_, f)| f.len()).sum());
    for (path, entry) in shards.values().flat_map(|(_, f)| f.iter()) {
        if let Some(blob) = old.files.get(path).filter(|b| b.hash == entry.hash) {
            files.insert(path.clone(), blob.clone());
            continue;
        }
        let full = inside(&canonical_root, &root.join(path))
            .ok_or_else(|| LoadError::Broken(format!("{path} leads outside the site")))?;
        let bytes = std::fs::read(&full).map_err(|e| LoadError::Racing(format!("{path}: {e}")))?;
        let hash = manifest::content_hash(&bytes);
        if hash != entry.hash {
            return Err(LoadError::Racing(format!("{path} changed")));
        }
        files.insert(
            path.clone(),
            Blob {
                bytes: bytes.into(),
                hash,
            },
        );
    }
    Ok(Some(Snapshot {
        files,
        origin: Origin::Manifest {
            top: top.hash,
            shards,
        },
    }))
}

/// Every visible regular file under `root`, rereading only those whose length or time moved.
fn scan(root: &Path, old: &Snapshot) -> Result<Option<Snapshot>, LoadError> {
    let canonical_root = match root.canonicalize() {
        Ok(root) => root,
        // No dist/ yet: an empty site until one appears.
        Err(_) if !root.exists() => {
            return Ok((!matches!(old.origin, Origin::Empty)).then(Snapshot::empty));
        }
        Err(e) => return Err(LoadError::Broken(format!("{}: {e}", root.display()))),
    };
    let old_stamps = match &old.origin {
        Origin::Scan { stamps } => Some(stamps),
        _ => None,
    };
    let mut files = HashMap::new();
    let mut stamps = HashMap::new();
    let walk = walkdir::WalkDir::new(&canonical_root)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk.flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let Some(full) = inside(&canonical_root, entry.path()) else {
            continue; // a symlink out of dist/
        };
        let Ok(relative) = entry.path().strip_prefix(&canonical_root) else {
            continue;
        };
        let key = relative.to_string_lossy().replace('\\', "/");
        let Ok(meta) = std::fs::metadata(&full) else {
            continue; // removed while scanning
        };
        let stamp = (
            meta.len(),
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        );
        let unchanged = old_stamps.and_then(|s| s.get(&key)) == Some(&stamp);
        let blob = match old.files.get(&key).filter(|_| unchanged) {
            Some(blob) => blob.clone(),
            None => match std::fs::read(&full) {
                Ok(bytes) => Blob {
                    hash: manifest::content_hash(&bytes),
                    bytes: bytes.into(),
                },
                Err(_) => continue,
            },
        };
        files.insert(key.clone(), blob);
        stamps.insert(key, stamp);
    }
    let origin = Origin::Scan { stamps };
    if origin == old.origin {
        return Ok(None);
    }
    Ok(Some(Snapshot { files, origin }))
}

/// `path` canonicalised, if it is still under `root` (so a symlink cannot lead out).
fn inside(canonical_root: &Path, path: &Path) -> Option<PathBuf> {
    let full = path.canonicalize().ok()?;
    full.starts_with(canonical_root).then_some(full)
}
