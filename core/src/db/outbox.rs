//! The outbox table: orders the embedded queue accepted and the worker has not recorded yet
//! (see `queue::outbox`), and the stock books a stock store is rebuilt from.

use super::{classify, Db, DbError};
use crate::domain::{Holder, OrderMessage};
use std::collections::HashSet;

/// What a product's stock store is (re)built from, read in one transaction so an order moving
/// from the outbox to `orders` meanwhile is counted once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockBooks {
    /// Units the database has left.
    pub stock: i64,
    /// Shoppers who hold a unit: recorded orders, and orders still in the outbox.
    pub holders: Vec<Holder>,
    /// Outbox orders that will take a unit when recorded.
    pub pending: i64,
}

impl StockBooks {
    /// Units still for sale: the database's, less those the outbox has promised.
    pub fn remaining(&self) -> i64 {
        (self.stock - self.pending).max(0)
    }
}

/// Orders in the outbox: waiting for the worker, and given up on (dead letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxCounts {
    pub waiting: u64,
    pub dead: u64,
}

/// Rows per statement, well under both databases' limits on bound parameters.
const CHUNK: usize = 500;

const ORDER_COLUMNS: &str = "order_id, user_id, product_id, accepted_at";

impl Db {
    /// Puts `orders` in the outbox in one transaction: all of them or none.
    pub async fn outbox_put(&self, orders: &[OrderMessage]) -> Result<(), DbError> {
        if orders.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await.map_err(classify)?;
        for chunk in orders.chunks(CHUNK) {
            let rows = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!("INSERT INTO outbox ({ORDER_COLUMNS}) VALUES {rows}");
            let mut insert = sqlx::query(&sql);
            for o in chunk {
                insert = insert
                    .bind(&o.order_id)
                    .bind(o.user_id)
                    .bind(o.product_id)
                    .bind(o.accepted_at);
            }
            insert.execute(&mut *tx).await.map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    /// Up to `limit` orders waiting in the outbox, oldest first, leaving out those in `skip`
    /// (handed out and not settled yet).
    pub async fn outbox_take(
        &self,
        limit: usize,
        skip: &HashSet<String>,
    ) -> Result<Vec<OrderMessage>, DbError> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM outbox WHERE dead_reason IS NULL ORDER BY seq LIMIT ?"
        );
        let rows: Vec<OrderMessage> = sqlx::query_as(&sql)
            .bind((limit + skip.len()) as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        let mut orders = Vec::with_capacity(limit);
        for order in rows {
            if !skip.contains(&order.order_id) {
                orders.push(order);
            }
            if orders.len() == limit {
                break;
            }
        }
        Ok(orders)
    }

    /// Removes orders from the outbox (recorded, or withdrawn): idempotent.
    pub async fn outbox_remove(&self, order_ids: &[&str]) -> Result<(), DbError> {
        for chunk in order_ids.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("DELETE FROM outbox WHERE order_id IN ({marks})");
            let mut delete = sqlx::query(&sql);
            for id in chunk {
                delete = delete.bind(*id);
            }
            delete.execute(&self.pool).await.map_err(classify)?;
        }
        Ok(())
    }

    /// Marks orders as given up on, with the reason, for a person to look at; the worker
    /// takes them no more.
    pub async fn outbox_dead_letter(
        &self,
        order_ids: &[&str],
        reason: &str,
    ) -> Result<(), DbError> {
        for chunk in order_ids.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("UPDATE outbox SET dead_reason = ? WHERE order_id IN ({marks})");
            let mut update = sqlx::query(&sql).bind(reason);
            for id in chunk {
                update = update.bind(*id);
            }
            update.execute(&self.pool).await.map_err(classify)?;
        }
        Ok(())
    }

    /// The orders given up on, with the reason.
    pub async fn outbox_dead_letters(&self) -> Result<Vec<(OrderMessage, String)>, DbError> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS}, dead_reason FROM outbox WHERE dead_reason IS NOT NULL ORDER BY seq"
        );
        let rows: Vec<DeadLetter> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| (r.order, r.dead_reason)).collect())
    }

    /// Orders waiting in the outbox (not yet recorded) and dead letters, for the audit.
    pub async fn outbox_counts(&self) -> Result<OutboxCounts, DbError> {
        let (waiting, dead): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(CASE WHEN x.dead_reason IS NULL THEN 1 END), \
             COUNT(CASE WHEN x.dead_reason IS NOT NULL THEN 1 END) \
             FROM outbox x WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = x.order_id)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(OutboxCounts {
            waiting: waiting.max(0) as u64,
            dead: dead.max(0) as u64,
        })
    }

    /// The books a product's stock store is built from; `None` for an unknown product.
    pub async fn stock_books(&self, product_id: i64) -> Result<Option<StockBooks>, DbError> {
        let mut tx = self.pool.begin().await?;
        let Some(stock): Option<i64> =
            sqlx::query_scalar("SELECT stock FROM products WHERE id = ?")
                .bind(product_id)
                .fetch_optional(&mut *tx)
                .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        let recorded: Vec<Holder> =
            sqlx::query_as("SELECT user_id, order_id FROM orders WHERE product_id = ?")
                .bind(product_id)
                .fetch_all(&mut *tx)
                .await?;
        // An outbox order already recorded (the worker died between the two steps), or whose
        // shopper already has an order of this product, takes no unit when the worker gets it.
        let waiting: Vec<Holder> = sqlx::query_as(
            "SELECT x.user_id, x.order_id FROM outbox x WHERE x.product_id = ? AND NOT EXISTS \
             (SELECT 1 FROM orders o WHERE o.order_id = x.order_id \
              OR (o.user_id = x.user_id AND o.product_id = x.product_id)) ORDER BY x.seq",
        )
        .bind(product_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut holders = Vec::with_capacity(recorded.len() + waiting.len());
        let mut seen = HashSet::new();
        let mut pending = 0;
        for (rows, in_outbox) in [(recorded, false), (waiting, true)] {
            for holder in rows {
                // One unit per shopper: a second outbox order of theirs will be a duplicate.
                if seen.insert(holder.user_id) {
                    pending += i64::from(in_outbox);
                    holders.push(holder);
                }
            }
        }
        Ok(Some(StockBooks {
            stock,
            holders,
            pending,
        }))
    }
}

/// A dead letter as stored: the order and why it was given up on.
#[derive(sqlx::FromRow)]
struct DeadLetter {
    #[sqlx(flatten)]
    order: OrderMessage,
    dead_reason: String,
}
