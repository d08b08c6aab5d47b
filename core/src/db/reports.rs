//! The back-office's views of orders: a filtered page, counts, and per-minute figures.

use super::{Db, DbError, Dialect};
use crate::domain::OrderStatus;

impl Db {
    /// One page of orders, newest first, with the shopper's and the product's names.
    pub async fn list_orders(
        &self,
        filter: &OrderFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<OrderRow>, DbError> {
        let (conditions, args) = filter.sql();
        let sql = format!(
            "SELECT o.order_id AS order_id, o.user_id AS user_id, u.user_name AS user_name, \
             u.nick_name AS nick_name, o.product_id AS product_id, p.name AS product_name, \
             o.status AS status, o.created_at AS created_at \
             FROM orders o LEFT JOIN users u ON u.id = o.user_id \
             LEFT JOIN products p ON p.id = o.product_id{conditions} \
             ORDER BY o.created_at DESC, o.order_id DESC LIMIT ? OFFSET ?"
        );
        let mut query = sqlx::query_as::<_, ListedOrder>(&sql);
        for arg in &args {
            query = query.bind(arg);
        }
        let rows = query
            .bind(limit.max(0))
            .bind(offset.max(0))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(OrderRow::from).collect())
    }

    /// How many orders match `filter` (for paging).
    pub async fn count_orders(&self, filter: &OrderFilter) -> Result<i64, DbError> {
        let (conditions, args) = filter.sql();
        let sql = format!(
            "SELECT COUNT(*) FROM orders o LEFT JOIN users u ON u.id = o.user_id \
             LEFT JOIN products p ON p.id = o.product_id{conditions}"
        );
        let mut query = sqlx::query_scalar(&sql);
        for arg in &args {
            query = query.bind(arg);
        }
        Ok(query.fetch_one(&self.pool).await?)
    }

    /// Per product that has orders: confirmed and failed orders, and those accepted at or
    /// after `since_ms` (unix milliseconds), for the dashboard.
    pub async fn order_stats(&self, since_ms: i64) -> Result<Vec<ProductOrderStats>, DbError> {
        Ok(sqlx::query_as(
            "SELECT product_id, COUNT(CASE WHEN status = ? THEN 1 END) AS confirmed, \
             COUNT(CASE WHEN status = ? THEN 1 END) AS failed, \
             COUNT(CASE WHEN created_at >= ? THEN 1 END) AS recent \
             FROM orders GROUP BY product_id ORDER BY product_id",
        )
        .bind(OrderStatus::Confirmed.as_str())
        .bind(OrderStatus::Failed.as_str())
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Orders accepted per minute since `since_ms`: (minute as unix ms, count), oldest first;
    /// minutes without orders are left out.
    pub async fn orders_per_minute(&self, since_ms: i64) -> Result<Vec<(i64, i64)>, DbError> {
        // Integer division is spelled differently: SQLite's `/` on integers truncates,
        // MySQL's gives a decimal.
        let minute = match self.dialect {
            Dialect::Sqlite => "created_at / 60000",
            Dialect::MySql => "created_at DIV 60000",
        };
        let sql = format!(
            "SELECT {minute} AS m, COUNT(*) FROM orders WHERE created_at >= ? GROUP BY m ORDER BY m"
        );
        let rows: Vec<(i64, i64)> = sqlx::query_as(&sql)
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(m, n)| (m * 60_000, n)).collect())
    }
}

/// Which orders the back-office lists: every given part must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Part of the shopper's user name or nick name (case-insensitive).
    pub shopper: Option<String>,
    /// Part of the product's name (case-insensitive), or its exact id.
    pub product: Option<String>,
}

impl OrderFilter {
    /// The `WHERE` clause (empty when nothing is filtered) and its arguments, in order.
    fn sql(&self) -> (String, Vec<String>) {
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        if let Some(shopper) = self.shopper.as_deref().filter(|s| !s.is_empty()) {
            conditions.push(
                "(LOWER(u.user_name) LIKE ? ESCAPE '!' OR LOWER(u.nick_name) LIKE ? ESCAPE '!')",
            );
            let pattern = like_pattern(shopper);
            args.push(pattern.clone());
            args.push(pattern);
        }
        if let Some(product) = self.product.as_deref().filter(|s| !s.is_empty()) {
            // An id is compared as text so one bound argument type serves both dialects.
            conditions.push("(LOWER(p.name) LIKE ? ESCAPE '!' OR CAST(o.product_id AS CHAR) = ?)");
            args.push(like_pattern(product));
            args.push(product.trim().to_string());
        }
        if conditions.is_empty() {
            (String::new(), args)
        } else {
            (format!(" WHERE {}", conditions.join(" AND ")), args)
        }
    }
}

/// `%text%`, lower-cased, with LIKE's wildcards in `text` taken literally (`!` escapes).
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// An order as the back-office lists it. Names are `None` when the shopper or the product
/// is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub order_id: String,
    pub user_id: i64,
    pub user_name: Option<String>,
    pub nick_name: Option<String>,
    pub product_id: i64,
    pub product_name: Option<String>,
    pub status: OrderStatus,
    /// Unix milliseconds when the gateway accepted it.
    pub created_at: i64,
}

/// A product's orders in numbers, for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ProductOrderStats {
    pub product_id: i64,
    pub confirmed: i64,
    pub failed: i64,
    /// Orders accepted since the time asked for.
    pub recent: i64,
}

/// An [`OrderRow`] as the query gives it: its status is a word.
#[derive(sqlx::FromRow)]
struct ListedOrder {
    order_id: String,
    user_id: i64,
    user_name: Option<String>,
    nick_name: Option<String>,
    product_id: i64,
    product_name: Option<String>,
    status: String,
    created_at: i64,
}

impl From<ListedOrder> for OrderRow {
    fn from(r: ListedOrder) -> OrderRow {
        OrderRow {
            order_id: r.order_id,
            user_id: r.user_id,
            user_name: r.user_name,
            nick_name: r.nick_name,
            product_id: r.product_id,
            product_name: r.product_name,
            // An unknown status can only come from a newer version's row; treat it as in flight.
            status: OrderStatus::parse(&r.status).unwrap_or(OrderStatus::Queued),
            created_at: r.created_at,
        }
    }
}
