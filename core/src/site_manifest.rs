//! The manifest of a published site: what sitegen wrote into `dist/`, and what the gateway
//! loads into memory. One format, shared, so the two cannot drift apart.
//!
//! The manifest lives in `dist/.flashsale/` (a hidden directory, so it is never served). It is
//! sharded so that republishing one product rewrites a few kilobytes, not a line per page of
//! the whole site: product pages go to a shard per thousand ids, everything else to `site`.
//!
//! - `.flashsale/manifest.txt`: the first line `flashsale-manifest 1`, then one line per shard:
//!   `shard <name> <hash> <len>`. It is written last, so it names a complete publish.
//! - `.flashsale/shards/<name>.txt`: one line per file: `<path> <input> <hash> <len>`, where
//!   `input` fingerprints what the file was made from (product row, templates, assets) and
//!   `hash` is the content hash of the bytes on disk.
//!
//! A reader that finds a shard or a file whose bytes do not match the hash recorded for it has
//! raced a newer publish; it keeps what it has and tries again later, so it never mixes two.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The directory of the manifest, relative to `dist/`.
pub const DIR: &str = ".flashsale";
/// The top-level manifest, relative to `dist/`.
pub const TOP: &str = ".flashsale/manifest.txt";
/// The lock file a publish holds, relative to `dist/`.
pub const LOCK: &str = ".flashsale/lock";

const MAGIC: &str = "flashsale-manifest 1";

/// The content hash of a file's bytes (xxh3, 64 bits): fast enough to hash every page.
pub fn content_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// One file of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEntry {
    /// Fingerprint of the inputs the file was made from.
    pub input: u64,
    /// [`content_hash`] of its bytes.
    pub hash: u64,
    pub len: u64,
}

/// A shard as the top-level manifest records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardEntry {
    pub hash: u64,
    pub len: u64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("not a flashsale manifest (the first line is not {MAGIC:?})")]
    NotAManifest,
    #[error("line {line}: {reason}")]
    BadLine { line: usize, reason: &'static str },
}

/// The shard a site path belongs to: `product-<id / 1000>` for product pages and
/// `page-<n / 1000>` for catalogue pages (with their compressed twins), `site` for the rest.
pub fn shard_of(path: &str) -> String {
    for dir in ["product", "page"] {
        let number = path
            .strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split('.').next())
            .and_then(|stem| stem.parse::<i64>().ok());
        if let Some(n) = number {
            return format!("{dir}-{}", n.div_euclid(1000));
        }
    }
    "site".to_owned()
}

/// Where a shard's file lives, relative to `dist/`.
pub fn shard_path(name: &str) -> String {
    format!("{DIR}/shards/{name}.txt")
}

/// Whether `path` may name a file of the site: relative, plain segments, nothing hidden.
/// Both the writer and the reader check it, so a tampered manifest cannot point outside.
pub fn is_site_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains(['\\', '\0', ':', ' ', '\t', '\n'])
        && path
            .split('/')
            .all(|segment| !segment.is_empty() && !segment.starts_with('.'))
}

pub fn write_top(shards: &BTreeMap<String, ShardEntry>) -> String {
    let mut out = String::with_capacity(32 + shards.len() * 48);
    out.push_str(MAGIC);
    out.push('\n');
    for (name, entry) in shards {
        out.push_str(&format!("shard {name} {:016x} {}\n", entry.hash, entry.len));
    }
    out
}

pub fn parse_top(text: &str) -> Result<BTreeMap<String, ShardEntry>, ManifestError> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(ManifestError::NotAManifest);
    }
    let mut shards = BTreeMap::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
        let bad = |reason| ManifestError::BadLine {
            line: n + 2,
            reason,
        };
        let mut fields = line.split(' ');
        let (Some("shard"), Some(name), Some(hash), Some(len), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(bad("expected `shard <name> <hash> <len>`"));
        };
        if !is_site_path(name) || name.contains('/') {
            return Err(bad("bad shard name"));
        }
        let entry = ShardEntry {
            hash: u64::from_str_radix(hash, 16).map_err(|_| bad("bad hash"))?,
            len: len.parse().map_err(|_| bad("bad length"))?,
        };
        shards.insert(name.to_owned(), entry);
    }
    Ok(shards)
}

pub fn write_shard(files: &BTreeMap<String, FileEntry>) -> String {
    let mut out = String::with_capacity(files.len() * 64);
    for (path, e) in files {
        out.push_str(&format!(
            "{path} {:016x} {:016x} {}\n",
            e.input, e.hash, e.len
        ));
    }
    out
}

pub fn parse_shard(text: &str) -> Result<BTreeMap<String, FileEntry>, ManifestError> {
    let mut files = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let bad = |reason| ManifestError::BadLine {
            line: n + 1,
            reason,
        };
        let mut fields = line.split(' ');
        let (Some(path), Some(input), Some(hash), Some(len), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(bad("expected `<path> <input> <hash> <len>`"));
        };
        if !is_site_path(path) {
            return Err(bad("path outside the site"));
        }
        let entry = FileEntry {
            input: u64::from_str_radix(input, 16).map_err(|_| bad("bad input fingerprint"))?,
            hash: u64::from_str_radix(hash, 16).map_err(|_| bad("bad hash"))?,
            len: len.parse().map_err(|_| bad("bad length"))?,
        };
        files.insert(path.to_owned(), entry);
    }
    Ok(files)
}

/// The top-level manifest as read from `dist/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Top {
    /// [`content_hash`] of its bytes: a publish since shows as another hash.
    pub hash: u64,
    pub shards: BTreeMap<String, ShardEntry>,
}

/// Why a manifest file could not be read.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("could not read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not those the top-level manifest recorded.
    #[error("{}: its hash is not the one recorded", path.display())]
    Changed { path: PathBuf },
    #[error("{}: {reason}", path.display())]
    Damaged { path: PathBuf, reason: String },
}

impl ReadError {
    /// The file is missing or not the one recorded: a newer publish is being written, and
    /// reading again later sees it whole.
    pub fn is_racing(&self) -> bool {
        matches!(self, ReadError::Io { .. } | ReadError::Changed { .. })
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. }
            | ReadError::Changed { path }
            | ReadError::Damaged { path, .. } => path,
        }
    }
}

/// The top-level manifest of the site in `dist`; `None` when there is none (never
/// published, or a site made by hand).
pub fn read_top(dist: &Path) -> Result<Option<Top>, ReadError> {
    let path = dist.join(TOP);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ReadError::Io { path, source }),
    };
    let hash = content_hash(&bytes);
    let shards = std::str::from_utf8(&bytes)
        .map_err(|_| "not text".to_owned())
        .and_then(|text| parse_top(text).map_err(|e| e.to_string()))
        .map_err(|reason| ReadError::Damaged {
            path: path.clone(),
            reason,
        })?;
    Ok(Some(Top { hash, shards }))
}

/// Shard `name` of the site in `dist`, checked against the hash `entry` records.
pub fn read_shard(
    dist: &Path,
    name: &str,
    entry: &ShardEntry,
) -> Result<BTreeMap<String, FileEntry>, ReadError> {
    let path = dist.join(shard_path(name));
    let bytes = std::fs::read(&path).map_err(|source| ReadError::Io {
        path: path.clone(),
        source,
    })?;
    if content_hash(&bytes) != entry.hash {
        return Err(ReadError::Changed { path });
    }
    std::str::from_utf8(&bytes)
        .map_err(|_| "not text".to_owned())
        .and_then(|text| parse_shard(text).map_err(|e| e.to_string()))
        .map_err(|reason| ReadError::Damaged { path, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_group_product_pages_by_thousands() {
        assert_eq!(shard_of("product/7.html"), "product-0");
        assert_eq!(shard_of("product/7.html.br"), "product-0");
        assert_eq!(shard_of("product/1999.html.gz"), "product-1");
        assert_eq!(shard_of("index.html"), "site");
        assert_eq!(shard_of("page/2.html.gz"), "page-0");
        assert_eq!(shard_of("page/2500.html"), "page-2");
        assert_eq!(shard_of("product/notes.txt"), "site");
        assert_eq!(shard_of("static/style.0123456789abcdef.css"), "site");
    }

    #[test]
    fn round_trips() {
        let files = BTreeMap::from([
            (
                "index.html".to_owned(),
                FileEntry {
                    input: 1,
                    hash: u64::MAX,
                    len: 10,
                },
            ),
            (
                "product/3.html.gz".to_owned(),
                FileEntry {
                    input: 2,
                    hash: 3,
                    len: 0,
                },
            ),
        ]);
        assert_eq!(parse_shard(&write_shard(&files)), Ok(files));
        let top = BTreeMap::from([("site".to_owned(), ShardEntry { hash: 9, len: 99 })]);
        assert_eq!(parse_top(&write_top(&top)), Ok(top));
    }

    #[test]
    fn paths_out_of_the_site_are_refused() {
        for path in [
            "../x",
            "a/../b",
            "/etc/passwd",
            ".flashsale/lock",
            "a//b",
            "a b",
            "",
        ] {
            assert!(!is_site_path(path), "{path}");
            let line = format!("{path} 1 2 3\n");
            assert!(parse_shard(&line).is_err(), "{path}");
        }
        assert!(is_site_path("product/1.html"));
    }

    #[test]
    fn garbage_is_not_a_manifest() {
        assert_eq!(parse_top("hello"), Err(ManifestError::NotAManifest));
        assert!(parse_top("flashsale-manifest 1\nshard x zz 1\n").is_err());
    }
}
