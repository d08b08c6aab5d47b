//! The catalogue: products and their stock in the database.

use super::changes::log_changes;
use super::{Db, DbError};
use crate::domain::{NewProduct, Product};
use sqlx::any::{Any, AnyArguments};
use sqlx::query::Query;

const PRODUCT_COLUMNS: &str =
    "id, name, stock, price_cents, image, description, sale_start, sale_end, queue, admit_per_second";

/// Binds a product's fields and the write time, in the column order both the INSERT and the
/// UPDATE name them.
fn bind_fields<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    p: &'q NewProduct,
) -> Query<'q, Any, AnyArguments<'q>> {
    query
        .bind(&p.name)
        .bind(p.stock)
        .bind(p.price_cents)
        .bind(&p.image)
        .bind(&p.description)
        .bind(p.sale_start)
        .bind(p.sale_end)
        .bind(i64::from(p.queue))
        .bind(i64::from(p.admit_per_second))
        .bind(crate::domain::now_unix())
}

impl Db {
    pub async fn list_products(&self) -> Result<Vec<Product>, DbError> {
        let rows: Vec<ProductRow> = sqlx::query_as(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Product::from).collect())
    }

    pub async fn get_product(&self, id: i64) -> Result<Option<Product>, DbError> {
        let row: Option<ProductRow> = sqlx::query_as(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Product::from))
    }

    /// The products of `ids` that exist, by id (a deleted one is left out).
    pub async fn products_by_ids(&self, ids: &[i64]) -> Result<Vec<Product>, DbError> {
        let mut products = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql =
                format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id IN ({marks}) ORDER BY id");
            let mut query = sqlx::query_as::<_, ProductRow>(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            products.extend(
                query
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(Product::from),
            );
        }
        Ok(products)
    }

    pub async fn insert_product(&self, p: &NewProduct) -> Result<i64, DbError> {
        let mut tx = self.begin_write().await?;
        let done = bind_fields(
            sqlx::query(
                "INSERT INTO products (name, stock, price_cents, image, description, sale_start, \
                 sale_end, queue, admit_per_second, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ),
            p,
        )
        .execute(&mut *tx)
        .await?;
        let id = match done.last_insert_id() {
            Some(id) => id,
            None => {
                sqlx::query_scalar("SELECT MAX(id) FROM products")
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        log_changes(&mut tx, &[id]).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn count_products(&self) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM products")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Replaces every field of product `id`; returns whether it exists.
    pub async fn update_product(&self, id: i64, p: &NewProduct) -> Result<bool, DbError> {
        let mut tx = self.begin_write().await?;
        let done = bind_fields(
            sqlx::query(
                "UPDATE products SET name = ?, stock = ?, price_cents = ?, image = ?, description = ?, \
                 sale_start = ?, sale_end = ?, queue = ?, admit_per_second = ?, updated_at = ? WHERE id = ?",
            ),
            p,
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let found = done.rows_affected() == 1;
        if found {
            log_changes(&mut tx, &[id]).await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    /// Removes product `id` from the catalogue; returns whether it existed. Its orders stay:
    /// they are the shop's history.
    pub async fn delete_product(&self, id: i64) -> Result<bool, DbError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM products WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let found = done.rows_affected() == 1;
        if found {
            log_changes(&mut tx, &[id]).await?;
        }
        tx.commit().await?;
        Ok(found)
    }
}

/// A product as stored: the flags are integers in both dialects.
#[derive(sqlx::FromRow)]
struct ProductRow {
    id: i64,
    name: String,
    stock: i64,
    price_cents: i64,
    image: String,
    description: String,
    sale_start: Option<i64>,
    sale_end: Option<i64>,
    queue: i64,
    admit_per_second: i64,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Product {
        Product {
            id: r.id,
            name: r.name,
            stock: r.stock,
            price_cents: r.price_cents,
            image: r.image,
            description: r.description,
            sale_start: r.sale_start,
            sale_end: r.sale_end,
            queue: r.queue != 0,
            // The column's CHECK keeps it non-negative; a value past u32 is clamped, not wrapped.
            admit_per_second: u32::try_from(r.admit_per_second.max(0)).unwrap_or(u32::MAX),
        }
    }
}
