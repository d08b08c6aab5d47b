//! The shop's nouns: products, shoppers and orders.

use serde::{Deserialize, Serialize};

/// A product on sale. Prices are kept in cents so no float ever touches money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    /// Units not yet sold (the database's view: confirmed orders already taken off).
    pub stock: i64,
    pub price_cents: i64,
    /// URL or site path of the product picture.
    pub image: String,
    pub description: String,
    /// Unix seconds; `None` means the sale is open from the start.
    pub sale_start: Option<i64>,
    /// Unix seconds; `None` means the sale never closes.
    pub sale_end: Option<i64>,
    /// Whether Buy goes through a waiting room (DESIGN.md, "The waiting room").
    #[serde(default)]
    pub queue: bool,
    /// Shoppers the waiting room admits per second; 0 pauses it.
    #[serde(default = "default_admit_per_second", rename = "admitPerSecond")]
    pub admit_per_second: u32,
}

/// `queue_admit_per_second`'s default, for rows written before the field existed.
pub const DEFAULT_ADMIT_PER_SECOND: u32 = 100;

fn default_admit_per_second() -> u32 {
    DEFAULT_ADMIT_PER_SECOND
}

/// Where a product's sale stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleWindow {
    NotYet,
    Open,
    Over,
}

impl Product {
    pub fn sale_window(&self, now_unix: i64) -> SaleWindow {
        match (self.sale_start, self.sale_end) {
            (Some(start), _) if now_unix < start => SaleWindow::NotYet,
            (_, Some(end)) if now_unix >= end => SaleWindow::Over,
            _ => SaleWindow::Open,
        }
    }
}

/// A product as it is created or edited: everything but the id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProduct {
    pub name: String,
    pub stock: i64,
    pub price_cents: i64,
    pub image: String,
    pub description: String,
    pub sale_start: Option<i64>,
    pub sale_end: Option<i64>,
    #[serde(default)]
    pub queue: bool,
    #[serde(default = "default_admit_per_second", rename = "admitPerSecond")]
    pub admit_per_second: u32,
}

impl NewProduct {
    /// A product on sale from now on, with no end, no waiting room and no image or
    /// description: what most tests and benchmarks start from.
    pub fn on_sale_now(name: impl Into<String>, stock: i64, price_cents: i64) -> Self {
        NewProduct {
            name: name.into(),
            stock,
            price_cents,
            image: String::new(),
            description: String::new(),
            sale_start: None,
            sale_end: None,
            queue: false,
            admit_per_second: DEFAULT_ADMIT_PER_SECOND,
        }
    }
}

/// A registered shopper.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub nick_name: String,
    pub user_name: String,
    /// PHC string of a slow password hash; never logged, never sent.
    pub password_hash: String,
}

/// A shopper who already holds a unit of a product, with the id of their order: what the stock
/// store is loaded with besides the units left.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Holder {
    pub user_id: i64,
    pub order_id: String,
}

/// What became of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Accepted and on the queue, not yet in the database.
    Queued,
    /// In the database, stock taken.
    Confirmed,
    /// The database had no unit left for it (the stock store and the database disagreed).
    Failed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Queued => "queued",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(OrderStatus::Queued),
            "confirmed" => Some(OrderStatus::Confirmed),
            "failed" => Some(OrderStatus::Failed),
            _ => None,
        }
    }
}

/// An accepted Buy, as it travels on the queue to the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct OrderMessage {
    pub order_id: String,
    pub user_id: i64,
    pub product_id: i64,
    /// Unix milliseconds when the gateway accepted it.
    pub accepted_at: i64,
}

/// An order as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_id: String,
    pub user_id: i64,
    pub product_id: i64,
    pub status: OrderStatus,
    pub created_at: i64,
}

/// A fresh order id: a UUIDv7 in simple hex, time-ordered so the database index stays compact.
pub fn new_order_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Whether a string can be an order id (32 lowercase hex digits); checked before any lookup.
pub fn is_order_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Current unix time in seconds.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Current unix time in milliseconds.
pub fn now_unix_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(start: Option<i64>, end: Option<i64>) -> Product {
        Product {
            id: 1,
            name: "x".into(),
            stock: 1,
            price_cents: 100,
            image: String::new(),
            description: String::new(),
            sale_start: start,
            sale_end: end,
            queue: false,
            admit_per_second: DEFAULT_ADMIT_PER_SECOND,
        }
    }

    #[test]
    fn sale_window_edges() {
        assert_eq!(product(None, None).sale_window(5), SaleWindow::Open);
        assert_eq!(product(Some(10), None).sale_window(9), SaleWindow::NotYet);
        assert_eq!(product(Some(10), None).sale_window(10), SaleWindow::Open);
        assert_eq!(product(None, Some(20)).sale_window(19), SaleWindow::Open);
        assert_eq!(product(None, Some(20)).sale_window(20), SaleWindow::Over);
    }

    #[test]
    fn order_ids_are_recognised() {
        let id = new_order_id();
        assert!(is_order_id(&id), "{id}");
        assert!(!is_order_id("../etc/passwd"));
        assert!(!is_order_id(&id.to_uppercase()));
        assert!(!is_order_id(&id[1..]));
    }
}
