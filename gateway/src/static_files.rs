//! Serving the generated site from `dist/`, and nothing outside it.
//!
//! A URL path is percent-decoded once, then refused if any segment is `.`, `..` or hidden, or
//! if it holds a backslash or NUL; what remains is joined to the root and canonicalised, and
//! must still lie under the canonical root (so a symlink cannot lead out).

use crate::reply::Reply;
use percent_encoding::percent_decode_str;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub struct StaticFiles {
    root: PathBuf,
}

impl StaticFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StaticFiles { root: root.into() }
    }

    /// The file a URL path names, if it is a file inside the root.
    pub fn resolve(&self, url_path: &str) -> Option<PathBuf> {
        let relative = safe_relative(url_path)?;
        let root = self.root.canonicalize().ok()?;
        let candidates: Vec<PathBuf> = if relative.as_os_str().is_empty() {
            vec![PathBuf::from("index.html")]
        } else if url_path.ends_with('/') {
            vec![relative.join("index.html")]
        } else if relative.extension().is_none() {
            // Pretty URLs: /user/login -> user/login.html.
            vec![
                relative.with_extension("html"),
                relative.join("index.html"),
                relative.clone(),
            ]
        } else {
            vec![relative]
        };
        candidates.into_iter().find_map(|c| {
            let full = root.join(c).canonicalize().ok()?;
            (full.starts_with(&root) && full.is_file()).then_some(full)
        })
    }

    /// The reply for a `GET`/`HEAD` of `url_path`: the file, a `304`, or the site's 404 page.
    pub async fn serve(&self, url_path: &str, if_none_match: Option<&str>) -> Reply {
        match self.resolve(url_path) {
            Some(path) => match file_reply(&path, if_none_match).await {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not read a file of the site");
                    Reply::text(500, "internal error")
                }
            },
            None => self.not_found().await,
        }
    }

    pub async fn not_found(&self) -> Reply {
        match tokio::fs::read(self.root.join("404.html")).await {
            Ok(page) => Reply::new(404)
                .header("Content-Type", "text/html; charset=utf-8")
                .header("Cache-Control", "no-cache")
                .body(page),
            Err(_) => Reply::text(404, "not found"),
        }
    }
}

async fn file_reply(path: &Path, if_none_match: Option<&str>) -> std::io::Result<Reply> {
    let meta = tokio::fs::metadata(path).await?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let etag = format!("W/\"{:x}-{:x}\"", meta.len(), modified);
    let content_type = content_type(path);
    // Pages change on republish, so browsers revalidate them often; assets rarely change.
    let cache = if content_type.starts_with("text/html") {
        "public, max-age=5"
    } else {
        "public, max-age=3600"
    };
    let base = |status| {
        Reply::new(status)
            .header("ETag", etag.clone())
            .header("Cache-Control", cache)
    };
    if if_none_match
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok(base(304));
    }
    let bytes = tokio::fs::read(path).await?;
    Ok(base(200).header("Content-Type", content_type).body(bytes))
}

fn content_type(path: &Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    if mime.type_() == "text" || mime.subtype() == "javascript" || mime.subtype() == "json" {
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
