//! A shopper's own orders, newest first, page by page (`GET /orders` on the gateway).

use super::{Db, DbError};
use crate::domain::OrderStatus;
use sqlx::Row;

/// One order as its shopper sees it. Name and price are the product's current ones, `None`
/// when the product was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopperOrder {
    pub order_id: String,
    pub product_id: i64,
    pub product_name: Option<String>,
    pub price_cents: Option<i64>,
    pub status: OrderStatus,
    /// Unix milliseconds when the gateway accepted it.
    pub created_at: i64,
}

/// Where a page of orders starts: after the order with this time and id (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderCursor {
    pub created_at: i64,
    pub order_id: String,
}

impl Db {
    /// Up to `limit` orders of `user_id`, newest first (ties by order id), after `cursor`.
    pub async fn orders_of_shopper(
        &self,
        user_id: i64,
        cursor: Option<&OrderCursor>,
        limit: i64,
    ) -> Result<Vec<ShopperOrder>, DbError> {
        const SELECT: &str = "SELECT o.order_id, o.product_id, p.name, p.price_cents, o.status, \
             o.created_at FROM orders o LEFT JOIN products p ON p.id = o.product_id \
             WHERE o.user_id = ?";
        const ORDER: &str = " ORDER BY o.created_at DESC, o.order_id DESC LIMIT ?";
        let rows = match cursor {
            None => {
                sqlx::query(&format!("{SELECT}{ORDER}"))
                    .bind(user_id)
                    .bind(limit.max(0))
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(c) => {
                sqlx::query(&format!(
                "{SELECT} AND (o.created_at < ? OR (o.created_at = ? AND o.order_id < ?)){ORDER}"
            ))
                .bind(user_id)
                .bind(c.created_at)
                .bind(c.created_at)
                .bind(&c.order_id)
                .bind(limit.max(0))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                let status: String = r.try_get(4)?;
                Ok(ShopperOrder {
                    order_id: r.try_get(0)?,
                    product_id: r.try_get(1)?,
                    product_name: r.try_get(2)?,
                    price_cents: r.try_get(3)?,
                    status: OrderStatus::parse(&status).unwrap_or(OrderStatus::Queued),
                    created_at: r.try_get(5)?,
                })
            })
            .collect()
    }
}
