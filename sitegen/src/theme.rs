//! The shop's look: tera templates and static assets, either compiled into the binary from
//! `site-templates/` or read from a directory of the same shape (`--templates DIR`).
//!
//! Template names mirror the page they render (`user/login.html` renders `dist/user/login.html`)
//! and end in `.html` or `.xml`, which is what turns tera's autoescaping on for them. Assets
//! are the files under `static/`; each is published under a content-hashed name too
//! (`static/style.0123456789abcdef.css`), which pages refer to through the `asset` function,
//! so an asset can be cached forever and a changed one is a new URL.

use std::collections::HashMap;
use std::path::Path;

use tera::Tera;
use xxhash_rust::xxh3::Xxh3;

use crate::SitegenError;

/// A file of `site-templates/` as `(name, contents)`; the name is also its path under `dist/`.
macro_rules! embed {
    ($include:ident, $name:literal) => {
        ($name, $include!(concat!("../../site-templates/", $name)))
    };
}

const TEMPLATES: &[(&str, &str)] = &[
    embed!(include_str, "base.html"),
    embed!(include_str, "index.html"),
    embed!(include_str, "product.html"),
    embed!(include_str, "order.html"),
    embed!(include_str, "orders.html"),
    embed!(include_str, "404.html"),
    embed!(include_str, "user/login.html"),
    embed!(include_str, "user/register.html"),
    embed!(include_str, "sitemap.xml"),
];

const ASSETS: &[(&str, &[u8])] = &[
    embed!(include_bytes, "static/style.css"),
    embed!(include_bytes, "static/buy.js"),
    embed!(include_bytes, "static/order.js"),
    embed!(include_bytes, "static/room.js"),
    embed!(include_bytes, "static/pow-worker.js"),
    embed!(include_bytes, "static/register.js"),
    embed!(include_bytes, "static/shopper.js"),
    embed!(include_bytes, "static/account.js"),
    embed!(include_bytes, "static/orders.js"),
    embed!(include_bytes, "static/catalogue.js"),
    embed!(include_bytes, "static/favicon.svg"),
    embed!(include_bytes, "static/img/placeholder.svg"),
    embed!(include_bytes, "static/img/phone.svg"),
    embed!(include_bytes, "static/img/headphones.svg"),
    embed!(include_bytes, "static/img/watch.svg"),
    embed!(include_bytes, "static/img/sneakers.svg"),
    embed!(include_bytes, "static/img/camera.svg"),
    embed!(include_bytes, "static/img/backpack.svg"),
    embed!(include_bytes, "static/img/keyboard.svg"),
    embed!(include_bytes, "static/img/speaker.svg"),
    embed!(include_bytes, "static/img/sunglasses.svg"),
    embed!(include_bytes, "static/img/mug.svg"),
    embed!(include_bytes, "static/img/lamp.svg"),
    embed!(include_bytes, "static/img/drone.svg"),
];

/// Pages that do not depend on the catalogue: rendered with the site view only.
pub(crate) const FIXED_PAGES: &[&str] = &[
    "order.html",
    "orders.html",
    "404.html",
    "user/login.html",
    "user/register.html",
];
pub(crate) const INDEX: &str = "index.html";
pub(crate) const PRODUCT: &str = "product.html";
pub(crate) const SITEMAP: &str = "sitemap.xml";

/// Every template a theme must provide.
const REQUIRED: &[&str] = &[
    "index.html",
    "product.html",
    "order.html",
    "orders.html",
    "404.html",
    "user/login.html",
    "user/register.html",
    "sitemap.xml",
];

/// A static asset: published under its plain path and under its hashed one.
#[derive(Debug, Clone)]
pub(crate) struct Asset {
    /// `static/style.css`
    pub path: String,
    /// `static/style.0123456789abcdef.css`
    pub hashed: String,
    pub bytes: Vec<u8>,
}

/// Templates compiled, assets hashed, and one fingerprint of all of it.
pub(crate) struct Theme {
    pub tera: Tera,
    pub assets: Vec<Asset>,
    /// Changes when any template or asset changes: every page's input includes it.
    pub fingerprint: u64,
}

impl Theme {
    /// The theme compiled into the binary.
    pub(crate) fn builtin() -> Result<Theme, SitegenError> {
        let templates = TEMPLATES
            .iter()
            .map(|&(name, source)| (name.to_owned(), source.to_owned()))
            .collect();
        let assets = ASSETS
            .iter()
            .map(|&(path, bytes)| (path.to_owned(), bytes.to_vec()))
            .collect();
        Theme::build(templates, assets)
    }

    /// A theme read from `dir`: every `*.html` / `*.xml` below it is a template, every file
    /// under `dir/static/` an asset.
    pub(crate) fn from_dir(dir: &Path) -> Result<Theme, SitegenError> {
        let mut templates = Vec::new();
        let mut assets = Vec::new();
        for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
            let entry =
                entry.map_err(|e| SitegenError::io("reading templates in", dir)(e.into()))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(relative) = entry.path().strip_prefix(dir) else {
                continue;
            };
            let name = relative.to_string_lossy().replace('\\', "/");
            if name.split('/').any(|s| s.starts_with('.')) {
                continue; // editor swap files, .git, ...
            }
            let read =
                || std::fs::read(entry.path()).map_err(SitegenError::io("reading", entry.path()));
            if name.starts_with("static/") {
                assets.push((name, read()?));
            } else if name.ends_with(".html") || name.ends_with(".xml") {
                let source = String::from_utf8(read()?).map_err(|_| SitegenError::Template {
                    name: name.clone(),
                    message: "is not UTF-8".to_owned(),
                })?;
                templates.push((name, source));
            }
        }
        Theme::build(templates, assets)
    }

    fn build(
        templates: Vec<(String, String)>,
        assets: Vec<(String, Vec<u8>)>,
    ) -> Result<Theme, SitegenError> {
        let mut fingerprint = Xxh3::new();
        for (name, source) in &templates {
            fingerprint.update(name.as_bytes());
            fingerprint.update(source.as_bytes());
        }
        let assets: Vec<Asset> = assets
            .into_iter()
            .map(|(path, bytes)| {
                fingerprint.update(path.as_bytes());
                fingerprint.update(&bytes);
                Asset {
                    hashed: hashed_name(&path, &bytes),
                    path,
                    bytes,
                }
            })
            .collect();

        if let Some(bad) = assets.iter().find(|a| !is_plain_path(&a.path)) {
            return Err(SitegenError::Template {
                name: bad.path.clone(),
                message: "asset names may hold only letters, digits, '.', '-', '_' and '/'"
                    .to_owned(),
            });
        }
        let mut tera = Tera::default();
        // tera's default also escapes `/`, which only makes URLs unreadable (and sitemaps odd).
        tera.set_escape_fn(flashsale_core::html::escape);
        // All at once, so `{% extends %}` resolves whatever the order.
        tera.add_raw_templates(templates.iter().map(|(n, s)| (n.as_str(), s.as_str())))
            .map_err(|e| SitegenError::Template {
                name: "(theme)".to_owned(),
                message: error_chain(&e),
            })?;
        for name in REQUIRED {
            if !tera.get_template_names().any(|n| n == *name) {
                return Err(SitegenError::Template {
                    name: (*name).to_owned(),
                    message: "is missing from the theme".to_owned(),
                });
            }
        }
        let urls: HashMap<String, String> = assets
            .iter()
            .map(|a| (a.path.clone(), format!("/{}", a.hashed)))
            .collect();
        tera.register_function("asset", AssetUrl { urls });
        Ok(Theme {
            tera,
            assets,
            fingerprint: fingerprint.digest(),
        })
    }

    /// The hashed URL of a site path such as `/static/img/phone.svg`, if it is an asset.
    pub(crate) fn hashed_url(&self, url: &str) -> Option<String> {
        let path = url.strip_prefix('/')?;
        self.assets
            .iter()
            .find(|a| a.path == path)
            .map(|a| format!("/{}", a.hashed))
    }
}

/// `static/style.css` + bytes -> `static/style.<16 hex>.css`.
fn hashed_name(path: &str, bytes: &[u8]) -> String {
    let hash = flashsale_core::site_manifest::content_hash(bytes);
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let (stem, ext) = match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, Some(ext)),
        _ => (file, None),
    };
    let name = match ext {
        Some(ext) => format!("{stem}.{hash:016x}.{ext}"),
        None => format!("{stem}.{hash:016x}"),
    };
    if dir.is_empty() {
        name
    } else {
        format!("{dir}/{name}")
    }
}

/// tera's `asset(path="static/style.css")`: the hashed URL, or an error naming the asset.
struct AssetUrl {
    urls: HashMap<String, String>,
}

impl tera::Function for AssetUrl {
    fn call(&self, args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
        let path = args
            .get("path")
            .and_then(|v| v.as_str())
            .ok_or("asset() needs path=\"static/...\"")?;
        let path = path.trim_start_matches('/');
        self.urls
            .get(path)
            .map(|url| tera::Value::String(url.clone()))
            .ok_or_else(|| format!("asset({path:?}): no such file under static/").into())
    }

    /// Safe: a URL this crate made from an asset name of plain characters (checked when the
    /// theme is built), so there is nothing to escape.
    fn is_safe(&self) -> bool {
        true
    }
}

fn is_plain_path(path: &str) -> bool {
    path.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
}

/// tera puts the useful part of a template error in its sources.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_theme_compiles_with_every_page() {
        let theme = Theme::builtin().expect("theme compiles");
        for page in REQUIRED {
            assert!(
                theme.tera.get_template_names().any(|n| n == *page),
                "{page}"
            );
        }
        assert_eq!(theme.assets.len(), ASSETS.len());
    }

    #[test]
    fn templates_never_mark_data_safe() {
        for (name, source) in TEMPLATES {
            let compact = source.replace(' ', "");
            assert!(!compact.contains("|safe"), "{name} marks data safe");
            assert!(
                !compact.contains("autoescapefalse"),
                "{name} turns escaping off"
            );
            assert!(
                name.ends_with(".html") || name.ends_with(".xml"),
                "{name} would not be autoescaped"
            );
        }
    }

    #[test]
    fn an_asset_with_a_strange_name_is_refused() {
        let err = Theme::build(
            TEMPLATES
                .iter()
                .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
                .collect(),
            vec![("static/a\"b.css".to_owned(), vec![])],
        )
        .err()
        .expect("refused");
        assert!(err.to_string().contains("a\"b.css"), "{err}");
    }

    #[test]
    fn hashed_names_keep_directory_and_extension() {
        let name = hashed_name("static/img/a.svg", b"x");
        assert!(name.starts_with("static/img/a."), "{name}");
        assert!(name.ends_with(".svg"), "{name}");
        assert_eq!(name.len(), "static/img/a..svg".len() + 16);
        assert_ne!(name, hashed_name("static/img/a.svg", b"y"));
    }

    #[test]
    fn a_changed_asset_changes_the_fingerprint() {
        let theme = |css: &[u8]| {
            Theme::build(
                TEMPLATES
                    .iter()
                    .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
                    .collect(),
                vec![("static/style.css".to_owned(), css.to_vec())],
            )
            .expect("theme")
            .fingerprint
        };
        assert_ne!(theme(b"a"), theme(b"b"));
        assert_eq!(theme(b"a"), theme(b"a"));
    }

    #[test]
    fn a_missing_page_template_is_named() {
        let err = Theme::build(vec![("index.html".into(), "x".into())], vec![])
            .err()
            .expect("incomplete theme");
        assert!(err.to_string().contains("product.html"), "{err}");
    }
}
