//! Orders: recording the worker's batches (stock taken in the same transaction), and
//! reading a product's orders back.

use super::changes::log_changes;
use super::{classify, Db, DbError, Dialect};
use crate::domain::{Holder, Order, OrderMessage, OrderStatus};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What recording one order did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Inserted and a unit of stock taken.
    Confirmed,
    /// Inserted, but the database had no unit left for it.
    Failed,
    /// Already there (a redelivery, or the shopper already has this product): nothing changed.
    Duplicate,
}

const ORDER_COLUMNS: &str = "order_id, user_id, product_id, status, created_at";

impl Db {
    /// Records a batch of accepted orders in one transaction: each order is inserted at most
    /// once (by order id, and by shopper and product) and takes one unit of stock, never below
    /// zero. Either the whole batch is recorded or none of it. On SQLite the same transaction
    /// takes the orders out of the outbox.
    ///
    /// The common case (new orders, stock for all of them) takes a handful of statements for
    /// the whole batch; anything unusual (an order already there, a shopper twice, too little
    /// stock) rolls back and is recorded order by order, with the same result.
    pub async fn record_orders(&self, batch: &[OrderMessage]) -> Result<Vec<Recorded>, DbError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await.map_err(classify)?;
        match self.record_batch(&mut tx, batch).await.map_err(classify)? {
            Some(outcomes) => {
                self.clear_outbox(&mut tx, batch).await.map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                Ok(outcomes)
            }
            None => {
                tx.rollback().await.map_err(classify)?;
                self.record_one_by_one(batch).await.map_err(classify)
            }
        }
    }

    /// The fast path: `None` when the batch needs the careful one.
    async fn record_batch(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        batch: &[OrderMessage],
    ) -> Result<Option<Vec<Recorded>>, sqlx::Error> {
        let marks = vec!["?"; batch.len()].join(", ");
        let sql = format!("SELECT order_id FROM orders WHERE order_id IN ({marks})");
        let mut existing = sqlx::query_scalar(&sql);
        for order in batch {
            existing = existing.bind(&order.order_id);
        }
        let existing: HashSet<String> = existing.fetch_all(&mut **tx).await?.into_iter().collect();

        let mut seen_ids = HashSet::new();
        let mut seen_shoppers = HashSet::new();
        let mut fresh = Vec::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        for order in batch {
            if existing.contains(&order.order_id) || !seen_ids.insert(order.order_id.as_str()) {
                outcomes.push(Recorded::Duplicate);
                continue;
            }
            if !seen_shoppers.insert((order.user_id, order.product_id)) {
                return Ok(None);
            }
            fresh.push(order);
            outcomes.push(Recorded::Confirmed);
        }
        if fresh.is_empty() {
            return Ok(Some(outcomes));
        }

        let ignore = match self.dialect {
            Dialect::Sqlite => "INSERT OR IGNORE",
            Dialect::MySql => "INSERT IGNORE",
        };
        let rows = vec!["(?, ?, ?, ?, ?)"; fresh.len()].join(", ");
        let sql = format!(
            "{ignore} INTO orders (order_id, user_id, product_id, status, created_at) VALUES {rows}"
        );
        let mut insert = sqlx::query(&sql);
        for order in &fresh {
            insert = insert
                .bind(&order.order_id)
                .bind(order.user_id)
                .bind(order.product_id)
                .bind(OrderStatus::Confirmed.as_str())
                .bind(order.accepted_at);
        }
        if insert.execute(&mut **tx).await?.rows_affected() != fresh.len() as u64 {
            // Some shopper already had an order of that product (or another worker raced us).
            return Ok(None);
        }

        // Per product in id order, so concurrent workers lock product rows in the same order.
        let mut per_product: BTreeMap<i64, i64> = BTreeMap::new();
        for order in &fresh {
            *per_product.entry(order.product_id).or_default() += 1;
        }
        for (&product_id, &n) in &per_product {
            let taken =
                sqlx::query("UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?")
                    .bind(n)
                    .bind(product_id)
                    .bind(n)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
            if taken != 1 {
                return Ok(None);
            }
        }
        // Pages show the stock: the admin's next Republish finds these products changed.
        let touched: Vec<i64> = per_product.into_keys().collect();
        log_changes(tx, &touched).await?;
        Ok(Some(outcomes))
    }

    /// The careful path: order by order, an order without stock recorded as failed.
    async fn record_one_by_one(
        &self,
        batch: &[OrderMessage],
    ) -> Result<Vec<Recorded>, sqlx::Error> {
        let insert = match self.dialect {
            Dialect::Sqlite => "INSERT OR IGNORE INTO orders (order_id, user_id, product_id, status, created_at) VALUES (?, ?, ?, ?, ?)",
            Dialect::MySql => "INSERT IGNORE INTO orders (order_id, user_id, product_id, status, created_at) VALUES (?, ?, ?, ?, ?)",
        };
        let mut tx = self.begin_write().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut touched = BTreeSet::new();
        for order in batch {
            let inserted = sqlx::query(insert)
                .bind(&order.order_id)
                .bind(order.user_id)
                .bind(order.product_id)
                .bind(OrderStatus::Confirmed.as_str())
                .bind(order.accepted_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 0 {
                outcomes.push(Recorded::Duplicate);
                continue;
            }
            let taken =
                sqlx::query("UPDATE products SET stock = stock - 1 WHERE id = ? AND stock > 0")
                    .bind(order.product_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if taken == 1 {
                touched.insert(order.product_id);
                outcomes.push(Recorded::Confirmed);
            } else {
                sqlx::query("UPDATE orders SET status = ? WHERE order_id = ?")
                    .bind(OrderStatus::Failed.as_str())
                    .bind(&order.order_id)
                    .execute(&mut *tx)
                    .await?;
                outcomes.push(Recorded::Failed);
            }
        }
        let touched: Vec<i64> = touched.into_iter().collect();
        log_changes(&mut tx, &touched).await?;
        self.clear_outbox(&mut tx, batch).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// On SQLite, removes the batch's orders from the embedded queue's outbox in the
    /// transaction that records them: one commit (one sync) per batch instead of two, and no
    /// order is ever in both tables. The queue's acknowledgement deletes them too (idempotent),
    /// which is all MySQL gets: there a statement per batch on an empty table in a RabbitMQ
    /// deployment would only add locks.
    async fn clear_outbox(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        batch: &[OrderMessage],
    ) -> Result<(), sqlx::Error> {
        if self.dialect != Dialect::Sqlite {
            return Ok(());
        }
        for chunk in batch.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("DELETE FROM outbox WHERE order_id IN ({marks})");
            let mut delete = sqlx::query(&sql);
            for order in chunk {
                delete = delete.bind(&order.order_id);
            }
            delete.execute(&mut **tx).await?;
        }
        Ok(())
    }

    pub async fn find_order(&self, order_id: &str) -> Result<Option<Order>, DbError> {
        let row: Option<OrderRecord> = sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?"
        ))
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Order::from))
    }

    /// Shoppers who already have an order for a product, with its id: when the stock store is
    /// loaded they must not be able to buy it again.
    pub async fn order_holders(&self, product_id: i64) -> Result<Vec<Holder>, DbError> {
        Ok(
            sqlx::query_as("SELECT user_id, order_id FROM orders WHERE product_id = ?")
                .bind(product_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// (confirmed, failed) orders of a product.
    pub async fn order_counts(&self, product_id: i64) -> Result<(i64, i64), DbError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(CASE WHEN status = ? THEN 1 END), COUNT(CASE WHEN status = ? THEN 1 END) \
             FROM orders WHERE product_id = ?",
        )
        .bind(OrderStatus::Confirmed.as_str())
        .bind(OrderStatus::Failed.as_str())
        .bind(product_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Every order of a product, for checks and the admin.
    pub async fn orders_of_product(&self, product_id: i64) -> Result<Vec<Order>, DbError> {
        let rows: Vec<OrderRecord> = sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE product_id = ? ORDER BY created_at"
        ))
        .bind(product_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Order::from).collect())
    }
}

/// An order as stored: its status is a word.
#[derive(sqlx::FromRow)]
struct OrderRecord {
    order_id: String,
    user_id: i64,
    product_id: i64,
    status: String,
    created_at: i64,
}

impl From<OrderRecord> for Order {
    fn from(r: OrderRecord) -> Order {
        Order {
            order_id: r.order_id,
            user_id: r.user_id,
            product_id: r.product_id,
            // An unknown status can only come from a newer version's row; treat it as in flight.
            status: OrderStatus::parse(&r.status).unwrap_or(OrderStatus::Queued),
            created_at: r.created_at,
        }
    }
}
