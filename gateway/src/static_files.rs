//! Serving the generated site from memory, and nothing outside `dist/`.
//!
//! The whole published site is held in memory ([`crate::site_snapshot`]) and swapped whole
//! when a new publish appears, so a shopper never gets a mix of two publishes and a page
//! costs no disk read. Each answer carries `Content-Type`, a strong `ETag` (`304` on
//! `If-None-Match`), `Cache-Control` (a year and `immutable` for content-hashed assets, ten
//! seconds for pages), and the `.br` / `.gz` twin sitegen wrote when the client accepts it,
//! with `Vary: Accept-Encoding`.
//!
//! A URL path is percent-decoded once, then refused if any segment is `.`, `..` or hidden, or
//! if it holds a backslash or NUL; what remains must name a file of the snapshot, which holds
//! only files under `dist/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use percent_encoding::percent_decode_str;

use crate::reply::Reply;
use crate::site_snapshot::{LoadError, Snapshot};

/// Pages and the sitemap: short, so a republish reaches shoppers within seconds.
pub const CACHE_PAGE: &str = "public, max-age=10";
/// Content-hashed assets: a changed asset is a new URL, so the old one never changes.
pub const CACHE_HASHED: &str = "public, max-age=31536000, immutable";
/// Everything else (favicon, plain asset names).
pub const CACHE_OTHER: &str = "public, max-age=300";
/// The 404 page.
pub const CACHE_MISSING: &str = "no-cache";

pub struct StaticFiles {
    root: PathBuf,
    site: RwLock<Arc<Site>>,
}

/// A snapshot with each file's answer prepared.
struct Site {
    snapshot: Snapshot,
    entries: HashMap<String, Arc<Entry>>,
}

struct Entry {
    content_type: String,
    cache_control: &'static str,
    plain: Variant,
    gzip: Option<Variant>,
    brotli: Option<Variant>,
}

struct Variant {
    bytes: Bytes,
    etag: String,
}

/// The request headers static serving looks at.
#[derive(Debug, Default, Clone, Copy)]
pub struct Conditions<'a> {
    pub if_none_match: Option<&'a str>,
    pub accept_encoding: Option<&'a str>,
}

impl StaticFiles {
    /// Loads what `root` holds now; an unreadable or missing site starts empty (and is
    /// picked up by [`StaticFiles::reload`] once it appears).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let files = StaticFiles {
            root: root.into(),
            site: RwLock::new(Arc::new(Site::prepare(Snapshot::empty()))),
        };
        if let Err(e) = files.reload() {
            tracing::warn!(dist = %files.root.display(), error = %e, "could not load the site yet");
        }
        files
    }

    /// Loads a new publish if there is one. `Ok(true)` when the site changed.
    pub fn reload(&self) -> Result<bool, String> {
        let current = self.current();
        match Snapshot::load(&self.root, &current.snapshot) {
            Ok(Some(snapshot)) if snapshot.files.is_empty() && !current.entries.is_empty() => {
                // dist/ deleted, emptied, or a publish of nothing: an operator's slip far more
                // often than an intent. Keep serving the last good site (the caller warns).
                Err(format!(
                    "{} is missing or empty; still serving the last publish ({} files)",
                    self.root.display(),
                    current.entries.len()
                ))
            }
            Ok(Some(snapshot)) => {
                let site = Arc::new(Site::prepare(snapshot));
                let files = site.entries.len();
                match self.site.write() {
                    Ok(mut guard) => *guard = site,
                    Err(poisoned) => *poisoned.into_inner() = site,
                }
                tracing::info!(dist = %self.root.display(), files, "serving a new publish of the site");
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(LoadError::Racing(why)) => {
                tracing::debug!(why, "a publish is being written; trying again shortly");
                Ok(false)
            }
            Err(LoadError::Broken(why)) => Err(why),
        }
    }

    fn current(&self) -> Arc<Site> {
        match self.site.read() {
            Ok(site) => site.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The file a URL path names, if it is a file of the site.
    pub fn resolve(&self, url_path: &str) -> Option<PathBuf> {
        let site = self.current();
        site.find(url_path).map(|(key, _)| self.root.join(key))
    }

    /// The reply for a `GET`/`HEAD` of `url_path`: the file, a `304`, or the site's 404 page.
    pub fn serve(&self, url_path: &str, conditions: Conditions<'_>) -> Reply {
        let site = self.current();
        match site.find(url_path) {
            Some((_, entry)) => entry.reply(200, conditions),
            None => site.not_found(conditions),
        }
    }

    /// The uncompressed bytes of the page at `url_path`, for answers built on a page.
    pub fn page_bytes(&self, url_path: &str) -> Option<Bytes> {
        let site = self.current();
        site.find(url_path)
            .map(|(_, entry)| entry.plain.bytes.clone())
    }

    pub fn not_found(&self) -> Reply {
        self.current().not_found(Conditions::default())
    }
}

impl Site {
    fn prepare(snapshot: Snapshot) -> Site {
        let files = &snapshot.files;
        let variant = |key: &str| {
            files.get(key).map(|blob| Variant {
                bytes: blob.bytes.clone(),
                etag: format!("\"{:016x}\"", blob.hash),
            })
        };
        let entries = files
            .keys()
            .filter_map(|key| {
                let plain = variant(key)?;
                Some((
                    key.clone(),
                    Arc::new(Entry {
                        content_type: content_type(key),
                        cache_control: cache_control(key),
                        gzip: variant(&format!("{key}.gz")),
                        brotli: variant(&format!("{key}.br")),
                        plain,
                    }),
                ))
            })
            .collect();
        Site { snapshot, entries }
    }

    fn find(&self, url_path: &str) -> Option<(&str, &Arc<Entry>)> {
        let relative = safe_relative(url_path)?;
        let relative = relative.to_string_lossy().replace('\\', "/");
        let candidates: Vec<String> = if relative.is_empty() {
            vec!["index.html".to_owned()]
        } else if url_path
            .split(['?', '#'])
            .next()
            .is_some_and(|p| p.ends_with('/'))
        {
            vec![format!("{relative}/index.html")]
        } else if Path::new(&relative).extension().is_none() {
            // Pretty URLs: /user/login -> user/login.html.
            vec![
                format!("{relative}.html"),
                format!("{relative}/index.html"),
                relative.clone(),
            ]
        } else {
            vec![relative]
        };
        candidates
            .iter()
            .find_map(|c| self.entries.get_key_value(c.as_str()))
            .map(|(k, v)| (k.as_str(), v))
    }

    fn not_found(&self, conditions: Conditions<'_>) -> Reply {
        match self.entries.get("404.html") {
            Some(page) => {
                let conditions = Conditions {
                    if_none_match: None,
                    ..conditions
                };
                page.reply(404, conditions)
                    .replace_header("Cache-Control", CACHE_MISSING)
            }
            None => Reply::text(404, "not found").header("Cache-Control", CACHE_MISSING),
        }
    }
}

impl Entry {
    fn reply(&self, status: u16, conditions: Conditions<'_>) -> Reply {
        let accepted = conditions.accept_encoding;
        let (variant, encoding) = match (&self.brotli, &self.gzip) {
            (Some(br), _) if accepts(accepted, "br") => (br, Some("br")),
            (_, Some(gz)) if accepts(accepted, "gzip") => (gz, Some("gzip")),
            _ => (&self.plain, None),
        };
        let mut reply = Reply::new(status)
            .header("ETag", variant.etag.clone())
            .header("Cache-Control", self.cache_control);
        if self.gzip.is_some() || self.brotli.is_some() {
            reply = reply.header("Vary", "Accept-Encoding");
        }
        if status == 200
            && conditions
                .if_none_match
                .is_some_and(|tags| etag_matches(tags, &variant.etag))
        {
            reply.status = 304;
            return reply;
        }
        reply = reply.header("Content-Type", self.content_type.clone());
        if let Some(encoding) = encoding {
            reply = reply.header("Content-Encoding", encoding);
        }
        reply.body(variant.bytes.clone())
    }
}

/// Whether `Accept-Encoding` lists `coding` (or `*`) with a non-zero quality.
fn accepts(accept_encoding: Option<&str>, coding: &str) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    header.split(',').any(|item| {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let zero = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (name.eq_ignore_ascii_case(coding) || name == "*") && !zero
    })
}

/// `If-None-Match` with the weak comparison RFC 9110 asks for.
fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').any(|tag| {
        let tag = tag.trim();
        tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
    })
}

fn cache_control(key: &str) -> &'static str {
    if key.ends_with(".html") || key.ends_with(".xml") {
        CACHE_PAGE
    } else if is_hashed_asset(key) {
        CACHE_HASHED
    } else {
        CACHE_OTHER
    }
}

/// `static/…/name.<16 hex>.ext`, as sitegen names assets after their content.
pub fn is_hashed_asset(key: &str) -> bool {
    if !key.starts_with("static/") {
        return false;
    }
    let file = key.rsplit('/').next().unwrap_or("");
    let mut parts = file.rsplit('.');
    let (Some(_ext), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    hash.len() == 16 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn content_type(key: &str) -> String {
    if key.ends_with(".gz") {
        return "application/gzip".to_owned();
    }
    if key.ends_with(".br") {
        return "application/octet-stream".to_owned();
    }
    let mime = mime_guess::from_path(key).first_or_octet_stream();
    if mime.type_() == "text"
        || mime.subtype() == "javascript"
        || mime.subtype() == "json"
        || mime.subtype() == "xml"
    {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

/// The decoded path as a relative path of plain segments, or `None` if it tries anything else.
fn safe_relative(url_path: &str) -> Option<PathBuf> {
    let path = url_path.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return None;
    }
    let decoded = percent_decode_str(path).decode_utf8().ok()?;
    if decoded.contains(['\\', '\0']) {
        return None;
    }
    let mut relative = PathBuf::new();
    for segment in decoded.split('/') {
        if segment.is_empty() {
            continue;
        }
        if segment.starts_with('.') || segment.contains(':') {
            return None;
        }
        relative.push(segment);
    }
    Some(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> (tempfile::TempDir, StaticFiles) {
        let dir = tempfile::tempdir().expect("tempdir");
        let dist = dir.path().join("dist");
        std::fs::create_dir_all(dist.join("product")).expect("mkdir");
        std::fs::create_dir_all(dist.join("user")).expect("mkdir");
        std::fs::write(dist.join("index.html"), "home").expect("write");
        std::fs::write(dist.join("product/1.html"), "p1").expect("write");
        std::fs::write(dist.join("user/login.html"), "login").expect("write");
        std::fs::write(dir.path().join("secret.txt"), "secret").expect("write");
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), dist.join("link.txt"))
            .expect("symlink");
        let files = StaticFiles::new(&dist);
        (dir, files)
    }

    #[test]
    fn pages_resolve() {
        let (_dir, files) = site();
        for (url, want) in [
            ("/", "index.html"),
            ("/product/1.html", "product/1.html"),
            ("/user/login", "user/login.html"),
            ("/product/%31.html", "product/1.html"),
            ("/index.html?x=1", "index.html"),
        ] {
            let got = files
                .resolve(url)
                .unwrap_or_else(|| panic!("{url} not found"));
            assert!(got.ends_with(want), "{url} -> {}", got.display());
        }
    }

    /// Regression (issue 14, finding 7): deleting or emptying `dist/` made every page 404 at
    /// the next reload. Now the last good site stays, and the reload says why.
    #[test]
    fn finding_7_a_removed_or_emptied_dist_keeps_the_last_site() {
        let (dir, files) = site();
        let dist = dir.path().join("dist");
        std::fs::remove_dir_all(&dist).expect("remove dist");
        let why = files.reload().expect_err("a missing dist is reported");
        assert!(why.contains("still serving"), "{why}");
        assert_eq!(files.serve("/", Conditions::default()).status, 200);
        assert_eq!(
            files.serve("/product/1.html", Conditions::default()).status,
            200
        );
        std::fs::create_dir_all(&dist).expect("empty dist");
        assert!(files.reload().is_err());
        assert_eq!(files.serve("/", Conditions::default()).status, 200);
        // A real publish is picked up again.
        std::fs::write(dist.join("index.html"), "new home").expect("write");
        assert_eq!(files.reload(), Ok(true));
        assert_eq!(files.serve("/", Conditions::default()).body, "new home");
    }

    #[test]
    fn nothing_outside_the_root() {
        let (_dir, files) = site();
        for url in [
            "/../secret.txt",
            "/product/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E%2Fsecret.txt",
            "/product%2f..%2f..%2fsecret.txt",
            "/..%5csecret.txt",
            "/product\\..\\..\\secret.txt",
            "/index.html%00.png",
            "/link.txt",
            "/.hidden",
            "secret.txt",
            "//etc/passwd",
            "/C:/Windows/win.ini",
            "/%c0%ae%c0%ae/secret.txt",
            "/nope.html",
        ] {
            assert_eq!(files.resolve(url), None, "{url} was served");
        }
    }
}
