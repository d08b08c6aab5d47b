//! The log of catalogue writes (`product_changes`): every write to a product (inserted,
//! edited, deleted, stock taken by an order) adds a row in its own transaction, so a reader
//! that remembers how far it read learns which products changed without reading them all.
//! The admin's Republish is that reader (see `flashsale_admin::republish`).

use super::{Db, DbError};

/// One logged write: `seq` grows with every write (with gaps on MySQL: a rolled-back or
/// still uncommitted insert holds its number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ProductChange {
    pub seq: i64,
    pub product_id: i64,
}

/// Rows per statement, well under both databases' limits on bound parameters.
const CHUNK: usize = 500;

/// Logs a write to each of `product_ids`, in the transaction that made it.
pub(super) async fn log_changes(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    product_ids: &[i64],
) -> Result<(), sqlx::Error> {
    for chunk in product_ids.chunks(CHUNK) {
        let rows = vec!["(?)"; chunk.len()].join(", ");
        let sql = format!("INSERT INTO product_changes (product_id) VALUES {rows}");
        let mut insert = sqlx::query(&sql);
        for id in chunk {
            insert = insert.bind(id);
        }
        insert.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Db {
    /// The writes logged after `seq`, oldest first.
    pub async fn product_changes_since(&self, seq: i64) -> Result<Vec<ProductChange>, DbError> {
        Ok(
            sqlx::query_as(
                "SELECT seq, product_id FROM product_changes WHERE seq > ? ORDER BY seq",
            )
            .bind(seq)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    /// The range of the log as it is now: (oldest, newest) `seq`; `(0, 0)` when it is empty.
    pub async fn product_changes_range(&self) -> Result<(i64, i64), DbError> {
        let (oldest, newest): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM product_changes")
                .fetch_one(&self.pool)
                .await?;
        Ok((oldest.unwrap_or(0), newest.unwrap_or(0)))
    }

    /// Forgets the writes logged before `seq` (the row at `seq` stays, so a reader at `seq`
    /// still finds the log starts where it left off).
    pub async fn prune_product_changes(&self, seq: i64) -> Result<(), DbError> {
        sqlx::query("DELETE FROM product_changes WHERE seq < ?")
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
