//! A product as an admin typed it into the form or sent it to the API, checked field by
//! field into the [`NewProduct`] the database takes. Both doors share this one check.

use crate::local_time;
use chrono_tz::Tz;
use flashsale_core::domain::{NewProduct, Product};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const MAX_NAME: usize = 200;
pub const MAX_DESCRIPTION: usize = 4_000;
pub const MAX_IMAGE: usize = 1_000;
pub const MAX_STOCK: i64 = 1_000_000_000;
/// A million in the shop's currency, in cents.
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
/// More than any origin takes; a bigger number is a typo.
pub const MAX_ADMIT_PER_SECOND: u32 = 1_000_000;

/// The form's fields, as text. Field names are the API's (`saleStart`, `saleEnd`,
/// `admitPerSecond`); `queue` is a checkbox: "on" or "true" when ticked, absent otherwise.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProductForm {
    pub name: String,
    pub stock: String,
    pub price: String,
    pub image: String,
    pub description: String,
    pub sale_start: String,
    pub sale_end: String,
    pub queue: String,
    pub admit_per_second: String,
}

impl ProductForm {
    /// The form filled with a stored product, for editing; sale times in the shop's zone.
    pub fn from_product(p: &Product, zone: Tz) -> Self {
        ProductForm {
            name: p.name.clone(),
            stock: p.stock.to_string(),
            price: flashsale_sitegen::format_price(p.price_cents),
            image: p.image.clone(),
            description: p.description.clone(),
            sale_start: p
                .sale_start
                .map(|t| local_time::to_input(zone, t))
                .unwrap_or_default(),
            sale_end: p
                .sale_end
                .map(|t| local_time::to_input(zone, t))
                .unwrap_or_default(),
            queue: if p.queue { "on".into() } else { String::new() },
            admit_per_second: p.admit_per_second.to_string(),
        }
    }

    /// Whether the waiting-room checkbox is ticked.
    pub fn queue_on(&self) -> bool {
        matches!(self.queue.trim(), "on" | "true" | "1")
    }

    /// Every field checked, an empty `admitPerSecond` meaning the built-in default.
    #[cfg(test)]
    pub fn validate(&self) -> Result<NewProduct, FieldErrors> {
        self.validate_with(
            flashsale_core::domain::DEFAULT_ADMIT_PER_SECOND,
            Times::Rfc3339,
        )
    }

    /// Every field checked; all problems at once, so the admin fixes them in one go. An empty
    /// `admitPerSecond` means `default_rate` (the shop's `queue_admit_per_second`). Each
    /// message names the field by the label the form shows.
    pub fn validate_with(
        &self,
        default_rate: u32,
        times: Times,
    ) -> Result<NewProduct, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = self.name.trim();
        let name_len = name.chars().count();
        if name_len == 0 {
            errors.push("name", "Name is required.");
        } else if name_len > MAX_NAME {
            errors.push(
                "name",
                format!("Name is {name_len} characters long; at most {MAX_NAME}."),
            );
        } else if name.chars().any(char::is_control) {
            errors.push("name", "Name must be one line of text.");
        }

        let stock = match self.stock.trim().parse::<i64>() {
            Ok(n) if n < 0 => errors.add("stock", "Stock cannot be negative."),
            Ok(n) if n > MAX_STOCK => errors.add("stock", format!("Stock is at most {MAX_STOCK}.")),
            Ok(n) => Some(n),
            Err(_) if self.stock.trim().is_empty() => errors.add("stock", "Stock is required."),
            Err(_) => errors.add("stock", "Stock must be a whole number, like 100."),
        };

        let price = match parse_price(&self.price) {
            Some(c) if c > MAX_PRICE_CENTS => errors.add(
                "price",
                format!(
                    "Price is at most {}.",
                    flashsale_sitegen::format_price(MAX_PRICE_CENTS)
                ),
            ),
            Some(c) => Some(c),
            None if self.price.trim().is_empty() => errors.add("price", "Price is required."),
            None => errors.add(
                "price",
                "Price must be an amount like 19.99 (at most two decimals, not negative).",
            ),
        };

        let image = self.image.trim();
        if image.chars().count() > MAX_IMAGE {
            errors.push("image", format!("Image is at most {MAX_IMAGE} characters."));
        } else if !image.is_empty() && !is_image_url(image) {
            errors.push(
                "image",
                "Image must be a site path like /static/img/phone.svg or an http(s):// URL.",
            );
        }

        let description = self.description.trim();
        if description.chars().count() > MAX_DESCRIPTION {
            errors.push(
                "description",
                format!("Description is at most {MAX_DESCRIPTION} characters."),
            );
        }

        let sale_start = parse_time(&self.sale_start, "saleStart", times, &mut errors);
        let sale_end = parse_time(&self.sale_end, "saleEnd", times, &mut errors);
        if let (Some(Some(start)), Some(Some(end))) = (sale_start, sale_end) {
            if end <= start {
                errors.push("saleEnd", "Sale ends must be after Sale starts.");
            }
        }

        if !matches!(
            self.queue.trim(),
            "" | "on" | "true" | "1" | "false" | "off" | "0"
        ) {
            errors.push(
                "queue",
                "Waiting room is on (\"on\", \"true\") or off (absent, \"false\").",
            );
        }
        let rate_text = self.admit_per_second.trim();
        let admit_per_second = match rate_text.parse::<u32>() {
            _ if rate_text.is_empty() => Some(default_rate),
            Ok(n) if n > MAX_ADMIT_PER_SECOND => errors.add(
                "admitPerSecond",
                format!("Admitted per second is at most {MAX_ADMIT_PER_SECOND}."),
            ),
            Ok(n) => Some(n),
            Err(_) => errors.add(
                "admitPerSecond",
                "Admitted per second must be a whole number of shoppers, like 100 (0 pauses the line).",
            ),
        };

        match (stock, price, sale_start, sale_end, admit_per_second) {
            (
                Some(stock),
                Some(price_cents),
                Some(sale_start),
                Some(sale_end),
                Some(admit_per_second),
            ) if errors.is_empty() => Ok(NewProduct {
                name: name.to_string(),
                stock,
                price_cents,
                image: image.to_string(),
                description: description.to_string(),
                sale_start,
                sale_end,
                queue: self.queue_on(),
                admit_per_second,
            }),
            _ => Err(errors),
        }
    }
}

/// How sale times are written: the API's RFC 3339, or the form's `datetime-local` value in
/// the shop's time zone (RFC 3339 is taken there too).
#[derive(Debug, Clone, Copy)]
pub enum Times {
    Rfc3339,
    Local(Tz),
}

/// The label the form shows for a field, for messages and the list of errors.
pub fn label(field: &str) -> &'static str {
    match field {
        "name" => "Name",
        "stock" => "Stock",
        "price" => "Price",
        "image" => "Image",
        "description" => "Description",
        "saleStart" => "Sale starts",
        "saleEnd" => "Sale ends",
        "queue" => "Waiting room",
        "admitPerSecond" => "Admitted per second",
        _ => "This field",
    }
}

/// A product as the JSON API sends it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductJson {
    pub id: i64,
    pub name: String,
    pub stock: i64,
    /// The price as a decimal string ("19.99"): no float ever touches money.
    pub price: String,
    pub price_cents: i64,
    pub image: String,
    pub description: String,
    pub sale_start: Option<String>,
    pub sale_end: Option<String>,
    pub queue: bool,
    pub admit_per_second: u32,
}

impl From<&Product> for ProductJson {
    fn from(p: &Product) -> Self {
        ProductJson {
            id: p.id,
            name: p.name.clone(),
            stock: p.stock,
            price: flashsale_sitegen::format_price(p.price_cents),
            price_cents: p.price_cents,
            image: p.image.clone(),
            description: p.description.clone(),
            sale_start: p.sale_start.map(rfc3339),
            sale_end: p.sale_end.map(rfc3339),
            queue: p.queue,
            admit_per_second: p.admit_per_second,
        }
    }
}

/// A product as a script sends it to the API. Unknown fields are refused, so a typo such as
/// `salesEnd` is an error instead of a silently open sale.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProductBody {
    pub name: String,
    pub stock: i64,
    pub price: Amount,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sale_start: Option<String>,
    #[serde(default)]
    pub sale_end: Option<String>,
    #[serde(default)]
    pub queue: bool,
    /// Absent: the shop's `queue_admit_per_second`.
    #[serde(default)]
    pub admit_per_second: Option<u32>,
}

/// `19.99` or `"19.99"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Amount {
    Number(serde_json::Number),
    Text(String),
}

impl From<ProductBody> for ProductForm {
    fn from(b: ProductBody) -> Self {
        ProductForm {
            name: b.name,
            stock: b.stock.to_string(),
            price: match b.price {
                Amount::Number(n) => n.to_string(),
                Amount::Text(s) => s,
            },
            image: b.image,
            description: b.description,
            sale_start: b.sale_start.unwrap_or_default(),
            sale_end: b.sale_end.unwrap_or_default(),
            queue: b.queue.to_string(),
            admit_per_second: b
                .admit_per_second
                .map(|n| n.to_string())
                .unwrap_or_default(),
        }
    }
}

/// What is wrong with a product, field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    /// Records a problem; returns `None` so a parse can say "no value" in the same breath.
    fn add<T>(&mut self, field: &'static str, message: impl Into<String>) -> Option<T> {
        self.push(field, message);
        None
    }

    fn push(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message of `field`, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn as_json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|(f, m)| (f.to_string(), serde_json::Value::from(m.as_str())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, m)| format!("{k}: {m}")).collect();
        f.write_str(&parts.join("; "))
    }
}

/// `12`, `12.5`, `12.50` -> cents; no sign, at most two decimals, no float on the way.
pub fn parse_price(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > 12
        || !digits(whole)
        || fraction.len() > 2
        || !digits(fraction)
    {
        return None;
    }
    if text.ends_with('.') {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().ok()? * 10,
        _ => fraction.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(cents)
}

/// Empty: no time (`Some(None)`); valid: `Some(Some(unix))`; invalid: recorded, `None`.
fn parse_time(
    text: &str,
    field: &'static str,
    times: Times,
    errors: &mut FieldErrors,
) -> Option<Option<i64>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(None);
    }
    let label = label(field);
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(Some(t.unix_timestamp()));
    }
    match times {
        Times::Rfc3339 => errors.add(
            field,
            format!("{label} must be an RFC 3339 time like 2030-12-01T10:00:00Z, or empty."),
        ),
        Times::Local(zone) => match local_time::from_input(zone, text) {
            Ok(unix) => Some(Some(unix)),
            Err(local_time::LocalTimeError::Malformed) => errors.add(
                field,
                format!("{label} must be a date and a time (pick them in the calendar), or empty."),
            ),
            Err(skipped) => errors.add(field, format!("{label}: {text} {skipped}.")),
        },
    }
}

/// A site path (not `//host`, which leaves the site) or an http(s) URL, without characters
/// that could end an attribute.
fn is_image_url(url: &str) -> bool {
    let allowed = (url.starts_with('/') && !url.starts_with("//"))
        || url.starts_with("https://")
        || url.starts_with("http://");
    allowed
        && !url.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '`')
        })
}

/// Unix seconds as RFC 3339 in UTC.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ProductForm {
        ProductForm {
            name: "Pocket Phone".into(),
            stock: "10".into(),
            price: "19.99".into(),
            image: "/static/img/phone.svg".into(),
            description: "a phone".into(),
            sale_start: String::new(),
            sale_end: String::new(),
            queue: String::new(),
            admit_per_second: String::new(),
        }
    }

    #[test]
    fn a_good_product_passes() {
        let p = form().validate().expect("valid");
        assert_eq!((p.stock, p.price_cents, p.sale_start), (10, 1999, None));
    }

    #[test]
    fn the_waiting_room_fields_are_checked() {
        let p = form().validate_with(40, Times::Rfc3339).expect("valid");
        assert!(!p.queue, "an unticked box is off");
        assert_eq!(p.admit_per_second, 40, "empty takes the shop's default");
        for ticked in ["on", "true"] {
            let p = ProductForm {
                queue: ticked.into(),
                admit_per_second: "0".into(),
                ..form()
            }
            .validate()
            .expect("valid");
            assert!(p.queue, "{ticked}");
            assert_eq!(p.admit_per_second, 0, "0 pauses the line");
        }
        for bad in ["-1", "ten", "1.5", "1000001"] {
            let errors = ProductForm {
                admit_per_second: bad.into(),
                ..form()
            }
            .validate()
            .expect_err(bad);
            assert!(errors.get("admitPerSecond").is_some(), "{bad}: {errors}");
        }
        let errors = ProductForm {
            queue: "maybe".into(),
            ..form()
        }
        .validate()
        .expect_err("queue must be a checkbox value");
        assert!(errors.get("queue").is_some(), "{errors}");
    }

    #[test]
    fn prices_are_exact_cents() {
        assert_eq!(parse_price("12"), Some(1200));
        assert_eq!(parse_price("12.5"), Some(1250));
        assert_eq!(parse_price(" 0.07 "), Some(7));
        for bad in ["", "-1", "1.999", "1e3", "abc", "1.", ".5", "1,50", "+3"] {
            assert_eq!(parse_price(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let bad = ProductForm {
            name: "x".repeat(201),
            stock: "-1".into(),
            price: "cheap".into(),
            image: "javascript:alert(1)".into(),
            sale_start: "2030-01-02T00:00:00Z".into(),
            sale_end: "2030-01-01T00:00:00Z".into(),
            ..form()
        };
        let errors = bad.validate().expect_err("invalid");
        for field in ["name", "stock", "price", "image", "saleEnd"] {
            assert!(errors.get(field).is_some(), "{field}: {errors}");
        }
        assert_eq!(
            errors.get("saleEnd"),
            Some("Sale ends must be after Sale starts.")
        );
        let empty = ProductForm::default().validate().expect_err("empty");
        assert_eq!(empty.get("name"), Some("Name is required."));
        let bad_time = ProductForm {
            sale_start: "tomorrow".into(),
            ..form()
        };
        assert!(bad_time
            .validate()
            .expect_err("bad time")
            .get("saleStart")
            .is_some());
    }

    #[test]
    fn messages_name_the_field_by_its_label_never_its_id() {
        let bad = ProductForm {
            stock: "-2".into(),
            sale_start: "next week".into(),
            admit_per_second: "lots".into(),
            ..form()
        };
        let errors = bad
            .validate_with(100, Times::Local(chrono_tz::Europe::Paris))
            .expect_err("invalid");
        assert_eq!(errors.get("stock"), Some("Stock cannot be negative."));
        for (field, text) in &errors.0 {
            assert!(text.starts_with(label(field)), "{field}: {text}");
            assert!(!text.contains(field), "{field}: {text}");
        }
    }

    #[test]
    fn the_form_takes_times_in_the_shops_zone_the_api_rfc3339_only() {
        let typed = ProductForm {
            sale_start: "2030-07-01T10:00".into(),
            ..form()
        };
        let paris = typed
            .validate_with(100, Times::Local(chrono_tz::Europe::Paris))
            .expect("a datetime-local value");
        assert_eq!(
            paris.sale_start.map(rfc3339).as_deref(),
            Some("2030-07-01T08:00:00Z")
        );
        let errors = typed.validate().expect_err("the API wants RFC 3339");
        assert!(errors.get("saleStart").is_some(), "{errors}");
        let skipped = ProductForm {
            sale_start: "2030-03-31T02:30".into(),
            ..form()
        }
        .validate_with(100, Times::Local(chrono_tz::Europe::Paris))
        .expect_err("a time the clocks skip");
        assert_eq!(
            skipped.get("saleStart"),
            Some("Sale starts: 2030-03-31T02:30 does not exist in Europe/Paris: the clocks go forward then.")
        );
    }

    #[test]
    fn names_keep_their_html_as_text_and_times_round_trip() {
        let p = ProductForm {
            name: "  <script>alert(1)</script>  ".into(),
            sale_start: "2030-01-01T10:00:00+02:00".into(),
            ..form()
        }
        .validate()
        .expect("valid");
        // Stored as typed (trimmed); escaping is the pages' job.
        assert_eq!(p.name, "<script>alert(1)</script>");
        assert_eq!(
            p.sale_start.map(rfc3339).as_deref(),
            Some("2030-01-01T08:00:00Z")
        );
    }
}
