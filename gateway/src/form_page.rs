//! A refused account form answered with the shop's own page (`dist/user/login.html`, ...):
//! the error in the page's look, next to the field at fault, and the form kept filled.
//!
//! sitegen renders each account page with a `<!--form-state-->` marker inside its form; the
//! gateway puts there a notice (readable without JavaScript) carrying which field is at fault
//! and what was typed (never the password), and `account.js` moves the message beside the field
//! and fills the form back in. A page without the marker (an old theme) gets the plain notice.

use crate::reply::Reply;
use crate::shop::Shop;
use flashsale_core::html::escape;

/// Where a form page takes the answer's notice.
pub const MARKER: &str = "<!--form-state-->";

/// What went wrong with a posted form.
pub struct Refusal<'a> {
    pub status: u16,
    /// The notice's heading when the page cannot carry it ("Cannot log in").
    pub title: &'a str,
    pub message: &'a str,
    /// The `name` of the field at fault, if one is.
    pub field: Option<&'static str>,
    /// What the shopper typed, to put back (never a password).
    pub values: &'a [(&'static str, &'a str)],
}

/// `page` (a site path such as `/user/login`) with `refusal`'s notice in it.
pub fn refused(shop: &Shop, page: &str, refusal: &Refusal<'_>) -> Reply {
    let Some(html) = shop
        .site
        .page_bytes(page)
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .filter(|html| html.contains(MARKER))
    else {
        return Reply::page(refusal.status, refusal.title, refusal.message, page);
    };
    let body = html.replacen(MARKER, &notice(refusal), 1);
    Reply::new(refusal.status)
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Cache-Control", "no-store")
        .body(body)
}

fn notice(refusal: &Refusal<'_>) -> String {
    let values: serde_json::Map<String, serde_json::Value> = refusal
        .values
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).into()))
        .collect();
    format!(
        "<div id=\"form-state\" class=\"notice notice-error\" role=\"alert\" data-field=\"{field}\" \
         data-values=\"{values}\"><p>{message}</p></div>",
        field = escape(refusal.field.unwrap_or("")),
        values = escape(&serde_json::Value::Object(values).to_string()),
        message = escape(refusal.message),
    )
}

/// `next` when it is a path of this shop to go back to after logging in; `None` for anything
/// that could leave the site (`//host`, `https://host`, `/\host`) or loop on the account pages.
pub fn same_site_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/user/")
        && next.len() <= 512
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_gone_back_to() {
        assert_eq!(same_site_path("/product/3.html"), Some("/product/3.html"));
        assert_eq!(same_site_path("/orders.html?x=1"), Some("/orders.html?x=1"));
        assert_eq!(same_site_path("/"), Some("/"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "http://evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "evil.example",
            "javascript:alert(1)",
            "/ /evil.example",
            "/\t/evil.example",
            "",
            "/user/logout",
        ] {
            assert_eq!(same_site_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_notice_escapes_what_was_typed() {
        let html = notice(&Refusal {
            status: 409,
            title: "t",
            message: "The user name \u{201c}<b>\u{201d} is taken",
            field: Some("userName"),
            values: &[("userName", "<b>\"x'")],
        });
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("data-field=\"userName\""), "{html}");
        assert!(html.contains("&lt;b&gt;"), "{html}");
    }
}
