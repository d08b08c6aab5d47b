//! The shop's templates and static assets, compiled into the binary from `site-templates/`.
//!
//! Template names mirror the page they render (`user/login.html` renders `dist/user/login.html`)
//! and all end in `.html`, which is what turns tera's autoescaping on for them.

use tera::Tera;

use crate::SitegenError;

/// A file of `site-templates/` as `(name, contents)`; the name is also its path under `dist/`.
macro_rules! embed {
    ($include:ident, $name:literal) => {
        ($name, $include!(concat!("../../site-templates/", $name)))
    };
}

/// Templates in the order they are registered: `base.html` first, because tera resolves
/// `{% extends %}` when a template is added.
const TEMPLATES: &[(&str, &str)] = &[
    embed!(include_str, "base.html"),
    embed!(include_str, "index.html"),
    embed!(include_str, "product.html"),
    embed!(include_str, "order.html"),
    embed!(include_str, "404.html"),
    embed!(include_str, "user/login.html"),
    embed!(include_str, "user/register.html"),
];

/// Pages that do not depend on the catalogue: rendered with the site view only.
pub(crate) const FIXED_PAGES: &[&str] = &[
    "order.html",
    "404.html",
    "user/login.html",
    "user/register.html",
];

pub(crate) const INDEX: &str = "index.html";
pub(crate) const PRODUCT: &str = "product.html";

/// Static assets, copied to `dist/` byte for byte.
pub(crate) const ASSETS: &[(&str, &[u8])] = &[
    embed!(include_bytes, "static/style.css"),
    embed!(include_bytes, "static/buy.js"),
    embed!(include_bytes, "static/order.js"),
    embed!(include_bytes, "static/favicon.svg"),
    embed!(include_bytes, "static/img/placeholder.svg"),
    embed!(include_bytes, "static/img/phone.svg"),
    embed!(include_bytes, "static/img/headphones.svg"),
    embed!(include_bytes, "static/img/watch.svg"),
    embed!(include_bytes, "static/img/sneakers.svg"),
    embed!(include_bytes, "static/img/camera.svg"),
    embed!(include_bytes, "static/img/backpack.svg"),
];

/// Compiles the built-in templates.
pub(crate) fn load() -> Result<Tera, SitegenError> {
    let mut tera = Tera::default();
    for &(name, source) in TEMPLATES {
        debug_assert!(name.ends_with(".html"), "{name} would not be autoescaped");
        tera.add_raw_template(name, source)
            .map_err(|source| SitegenError::Template { name, source })?;
    }
    Ok(tera)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_templates_compile() {
        let tera = load().expect("templates compile");
        for page in FIXED_PAGES.iter().chain([&INDEX, &PRODUCT]) {
            assert!(tera.get_template_names().any(|n| n == *page), "{page}");
        }
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
        }
    }
}
