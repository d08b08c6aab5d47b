//! View structs: the catalogue as the templates want it.
//!
//! Templates never see domain types (STYLE.md #6): the view decides how a price reads, which
//! image URLs may reach an `src` attribute, and how times are written, so the templates only
//! place text. Escaping is left to tera (every template name ends in `.html`).

use flashsale_core::domain::Product;
use flashsale_core::money::format_money;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::{SiteOptions, SitegenError};

/// Shown in place of a picture whose URL is not a site path or http(s) URL.
pub(crate) const PLACEHOLDER_IMAGE: &str = "/static/img/placeholder.svg";

/// What every page knows about the shop.
#[derive(Debug, Serialize)]
pub(crate) struct SiteView {
    pub shop_name: String,
    pub cooldown_secs: u64,
    /// ISO 4217 code; the pages' scripts format prices they fetch with it.
    pub currency: String,
    /// The public address of the site without a trailing slash (`https://shop.example`), for
    /// the sitemap's absolute URLs; empty when unknown.
    pub url: String,
}

/// Where a catalogue page sits among the others.
#[derive(Debug, Serialize)]
pub(crate) struct PagerView {
    /// 1-based.
    pub current: usize,
    pub total: usize,
    /// URL of the previous / next catalogue page; empty at either end.
    pub prev: String,
    pub next: String,
}

impl PagerView {
    pub(crate) fn new(current: usize, total: usize) -> Self {
        PagerView {
            current,
            total,
            prev: if current > 1 {
                catalogue_url(current - 1)
            } else {
                String::new()
            },
            next: if current < total {
                catalogue_url(current + 1)
            } else {
                String::new()
            },
        }
    }
}

/// The file of catalogue page `n` (1-based): `index.html`, then `page/2.html`, ...
pub(crate) fn catalogue_page(n: usize) -> String {
    if n <= 1 {
        "index.html".to_owned()
    } else {
        format!("page/{n}.html")
    }
}

/// The URL of catalogue page `n`: `/`, then `/page/2`, ...
pub(crate) fn catalogue_url(n: usize) -> String {
    if n <= 1 {
        "/".to_owned()
    } else {
        format!("/page/{n}")
    }
}

/// One product, ready to be placed in a template.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ProductView {
    pub id: i64,
    pub name: String,
    /// The price as shoppers read it, in the shop's currency: `$12.34`.
    pub price: String,
    pub image: String,
    /// The description split on blank lines, one entry per paragraph.
    pub paragraphs: Vec<String>,
    /// Stock at render time, e.g. `12 left`; the page's script replaces it with the live count.
    pub stock_line: String,
    pub sold_out: bool,
    /// RFC 3339, empty when the sale has no start; read by the page's script.
    pub sale_start_rfc3339: String,
    pub sale_end_rfc3339: String,
    /// The same moments for readers without script, e.g. `2025-06-01 12:00 UTC`.
    pub sale_start_text: String,
    pub sale_end_text: String,
    /// The product has a waiting room: its page shows the line, and Buy waits for the
    /// shopper's turn.
    pub queue: bool,
    /// Shoppers let in per second (0: paused), for themes that want to say so; the page
    /// itself asks the gateway, since the admin changes it live.
    pub admit_per_second: u32,
    /// When the line opens (`saleStart - queue_prequeue_secs`), RFC 3339 for the script and
    /// as text; empty without a waiting room or without a sale start (the line is open then).
    pub queue_opens_rfc3339: String,
    pub queue_opens_text: String,
}

impl ProductView {
    /// `image_url` maps a vetted site path to the URL pages use (its content-hashed name);
    /// a waiting room's line opens `queue_prequeue_secs` before the sale starts.
    pub(crate) fn new(
        product: &Product,
        opts: &SiteOptions,
        image_url: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SitegenError> {
        let prequeue_secs = opts.queue_prequeue_secs;
        let page = product_page(product.id);
        let (sale_start_rfc3339, sale_start_text) = sale_time(product.sale_start, &page)?;
        let (sale_end_rfc3339, sale_end_text) = sale_time(product.sale_end, &page)?;
        let opens = product
            .sale_start
            .filter(|_| product.queue)
            .map(|start| start.saturating_sub(i64::try_from(prequeue_secs).unwrap_or(i64::MAX)));
        let (queue_opens_rfc3339, queue_opens_text) = sale_time(opens, &page)?;
        Ok(ProductView {
            id: product.id,
            name: product.name.clone(),
            price: format_money(product.price_cents, &opts.currency),
            image: {
                let image = vet_image(&product.image);
                image_url(&image).unwrap_or(image)
            },
            paragraphs: paragraphs(&product.description),
            stock_line: stock_line(product.stock),
            sold_out: product.stock <= 0,
            sale_start_rfc3339,
            sale_start_text,
            sale_end_rfc3339,
            sale_end_text,
            queue: product.queue,
            admit_per_second: product.admit_per_second,
            queue_opens_rfc3339,
            queue_opens_text,
        })
    }
}

/// The page of a product, relative to the site root.
pub(crate) fn product_page(id: i64) -> String {
    format!("product/{id}.html")
}

/// Cents as units with two decimals: 5 -> `0.05`, 1234 -> `12.34`, -150 -> `-1.50`.
pub fn format_price(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    // unsigned_abs, because i64::MIN has no positive i64.
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn stock_line(stock: i64) -> String {
    if stock > 0 {
        format!("{stock} left")
    } else {
        "Sold out".to_owned()
    }
}

/// Escaping stops a URL from leaving its attribute, but not a `javascript:` or `data:` URL from
/// being one; only site paths and http(s) URLs are let through.
fn vet_image(url: &str) -> String {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if url.starts_with('/') || lower.starts_with("https://") || lower.starts_with("http://") {
        url.to_owned()
    } else {
        PLACEHOLDER_IMAGE.to_owned()
    }
}

fn paragraphs(description: &str) -> Vec<String> {
    description
        .replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A sale time as (RFC 3339, human text), both empty when there is none.
fn sale_time(unix_secs: Option<i64>, page: &str) -> Result<(String, String), SitegenError> {
    let Some(unix_secs) = unix_secs else {
        return Ok((String::new(), String::new()));
    };
    let out_of_range = || SitegenError::SaleTime {
        page: page.to_owned(),
        unix_secs,
    };
    let at = OffsetDateTime::from_unix_timestamp(unix_secs).map_err(|_| out_of_range())?;
    let rfc3339 = at.format(&Rfc3339).map_err(|_| out_of_range())?;
    let text = at
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .map_err(|_| out_of_range())?;
    Ok((rfc3339, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> Product {
        Product {
            id: 7,
            name: "Phone".into(),
            stock: 3,
            price_cents: 49_900,
            image: "/static/img/phone.svg".into(),
            description: "First.\n\nSecond\nline.".into(),
            sale_start: None,
            sale_end: None,
            queue: false,
            admit_per_second: 100,
        }
    }

    fn opts() -> SiteOptions {
        SiteOptions::new("dist", 10, "Shop")
    }

    #[test]
    fn a_product_page_shows_the_price_in_the_shop_currency() {
        let view = ProductView::new(&product(), &opts(), |_| None).expect("valid product");
        assert_eq!(view.price, "$499.00");
        let mut yen = opts();
        yen.currency = "JPY".to_owned();
        let mut p = product();
        p.price_cents = 19_800;
        let view = ProductView::new(&p, &yen, |_| None).expect("valid product");
        assert_eq!(view.price, "¥19,800");
    }

    #[test]
    fn prices_read_as_units_and_cents() {
        assert_eq!(format_price(5), "0.05");
        assert_eq!(format_price(1234), "12.34");
        assert_eq!(format_price(0), "0.00");
        assert_eq!(format_price(100), "1.00");
        assert_eq!(format_price(-150), "-1.50");
        assert_eq!(format_price(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn stock_reads_as_units_left_or_sold_out() {
        assert_eq!(stock_line(12), "12 left");
        assert_eq!(stock_line(0), "Sold out");
        assert_eq!(stock_line(-1), "Sold out");
    }

    #[test]
    fn only_site_paths_and_http_images_reach_the_page() {
        assert_eq!(vet_image("/static/img/a.svg"), "/static/img/a.svg");
        assert_eq!(
            vet_image("https://cdn.example/a.png"),
            "https://cdn.example/a.png"
        );
        assert_eq!(vet_image("javascript:alert(1)"), PLACEHOLDER_IMAGE);
        assert_eq!(vet_image("data:image/svg+xml,<svg/>"), PLACEHOLDER_IMAGE);
        assert_eq!(vet_image(""), PLACEHOLDER_IMAGE);
    }

    #[test]
    fn site_images_get_their_hashed_url() {
        let view = ProductView::new(&product(), &opts(), |url| {
            (url == "/static/img/phone.svg").then(|| "/static/img/phone.0123.svg".to_owned())
        })
        .expect("valid product");
        assert_eq!(view.image, "/static/img/phone.0123.svg");
    }

    #[test]
    fn catalogue_pages_link_to_their_neighbours() {
        let first = PagerView::new(1, 3);
        assert_eq!((first.prev.as_str(), first.next.as_str()), ("", "/page/2"));
        let middle = PagerView::new(2, 3);
        assert_eq!(
            (middle.prev.as_str(), middle.next.as_str()),
            ("/", "/page/3")
        );
        let last = PagerView::new(3, 3);
        assert_eq!((last.prev.as_str(), last.next.as_str()), ("/page/2", ""));
        assert_eq!(catalogue_page(1), "index.html");
        assert_eq!(catalogue_page(3), "page/3.html");
    }

    #[test]
    fn description_splits_into_paragraphs() {
        let view = ProductView::new(&product(), &opts(), |_| None).expect("valid product");
        assert_eq!(view.paragraphs, vec!["First.", "Second\nline."]);
    }

    #[test]
    fn sale_times_are_rfc3339_or_empty() {
        let mut p = product();
        p.sale_start = Some(1_748_779_200);
        let view = ProductView::new(&p, &opts(), |_| None).expect("valid product");
        assert_eq!(view.sale_start_rfc3339, "2025-06-01T12:00:00Z");
        assert_eq!(view.sale_start_text, "2025-06-01 12:00 UTC");
        assert_eq!(view.sale_end_rfc3339, "");
    }

    #[test]
    fn a_waiting_room_opens_its_line_before_the_sale() {
        let mut p = product();
        p.sale_start = Some(1_748_779_200);
        let plain = ProductView::new(&p, &opts(), |_| None).expect("valid product");
        assert!(!plain.queue);
        assert_eq!(plain.queue_opens_rfc3339, "", "no room, no line");
        p.queue = true;
        let queued = ProductView::new(&p, &opts(), |_| None).expect("valid product");
        assert!(queued.queue);
        assert_eq!(queued.queue_opens_rfc3339, "2025-06-01T11:45:00Z");
        assert_eq!(queued.queue_opens_text, "2025-06-01 11:45 UTC");
        p.sale_start = None;
        let always = ProductView::new(&p, &opts(), |_| None).expect("valid product");
        assert_eq!(
            always.queue_opens_rfc3339, "",
            "without a start the line is open"
        );
    }

    #[test]
    fn a_sale_time_out_of_range_names_the_page() {
        let mut p = product();
        p.sale_end = Some(i64::MAX);
        let err = ProductView::new(&p, &opts(), |_| None).expect_err("out of range");
        assert!(err.to_string().contains("product/7.html"), "{err}");
    }
}
