//! `flashsale audit`: do the database, the stock store and the queue add up?
//!
//! Per product, every reservation in the stock store is either an order in the database or an
//! order still on the queue: `in flight = reserved - (confirmed + failed)`, never negative, and
//! the store's remaining units equal the database's minus those in flight. Over all products,
//! the orders in flight equal the messages on the queue. A failed order means the store sold a
//! unit the database did not have. Run it when the shop is quiet: while orders move, the
//! numbers are read at slightly different moments.

use flashsale_core::stock::StockStore;
use flashsale_core::Db;
use std::fmt;

#[derive(Debug, Clone)]
pub struct ProductAudit {
    pub product_id: i64,
    pub name: String,
    pub db_stock: i64,
    pub confirmed: i64,
    pub failed: i64,
    /// `None`: the store does not know the product (not loaded).
    pub store_remaining: Option<i64>,
    pub store_reserved: Option<u64>,
}

impl ProductAudit {
    /// Reservations not yet in the database.
    pub fn in_flight(&self) -> Option<i64> {
        self.store_reserved
            .map(|r| r as i64 - self.confirmed - self.failed)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct QueueCounts {
    /// Orders waiting or being processed.
    pub waiting: u64,
    pub dead: u64,
}

#[derive(Debug, Clone)]
pub struct Audit {
    pub products: Vec<ProductAudit>,
    /// `None` when the queue cannot be inspected from here (the in-memory queue).
    pub queue: Option<QueueCounts>,
    pub problems: Vec<String>,
}

impl Audit {
    pub fn consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

pub async fn audit(
    db: &Db,
    stock: &dyn StockStore,
    queue: Option<QueueCounts>,
) -> anyhow::Result<Audit> {
    let mut products = Vec::new();
    let mut problems = Vec::new();
    for p in db.list_products().await? {
        let (confirmed, failed) = db.order_counts(p.id).await?;
        let a = ProductAudit {
            product_id: p.id,
            name: p.name,
            db_stock: p.stock,
            confirmed,
            failed,
            store_remaining: stock.remaining(p.id).await?,
            store_reserved: stock.holders(p.id).await?,
        };
        let id = a.product_id;
        if a.failed > 0 {
            problems.push(format!(
                "product {id}: {} orders failed: the stock store sold units the database did not have",
                a.failed
            ));
        }
        match (a.store_remaining, a.in_flight()) {
            (Some(remaining), Some(in_flight)) => {
                if in_flight < 0 {
                    problems.push(format!(
                        "product {id}: the database has {} orders but the stock store knows only {} reservations",
                        a.confirmed + a.failed,
                        a.store_reserved.unwrap_or(0)
                    ));
                } else if remaining != a.db_stock - in_flight {
                    problems.push(format!(
                        "product {id}: the stock store has {remaining} units left, but the database has {} \
                         with {in_flight} orders in flight (expected {})",
                        a.db_stock,
                        a.db_stock - in_flight
                    ));
                }
            }
            _ => problems.push(format!(
                "product {id}: not loaded in the stock store (Buy answers unavailable until it is)"
            )),
        }
        products.push(a);
    }
    if let Some(q) = queue {
        // Which products the missing or extra orders belong to, so the operator knows where
        // to look: the queue itself is not broken down by product.
        let per_product: Vec<(i64, i64)> = products
            .iter()
            .filter_map(|p| p.in_flight().map(|n| (p.product_id, n)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let in_flight: i64 = per_product.iter().map(|(_, n)| n).sum();
        if in_flight != q.waiting as i64 {
            let which = if per_product.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = per_product
                    .iter()
                    .map(|(id, n)| format!("product {id}: {n}"))
                    .collect();
                format!(" ({})", list.join(", "))
            };
            problems.push(format!(
                "{in_flight} reservations are not in the database{which}, but the queue holds {} orders",
                q.waiting
            ));
        }
        if q.dead > 0 {
            problems.push(format!("{} orders are in the dead-letter queue", q.dead));
        }
    }
    Ok(Audit {
        products,
        queue,
        problems,
    })
}

impl fmt::Display for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: Option<i64>| v.map_or("-".to_string(), |n| n.to_string());
        writeln!(
            f,
            "{:>8}  {:>9}  {:>9}  {:>6}  {:>15}  {:>8}  {:>9}  name",
            "product",
            "db stock",
            "confirmed",
            "failed",
            "store remaining",
            "reserved",
            "in flight"
        )?;
        for p in &self.products {
            writeln!(
                f,
                "{:>8}  {:>9}  {:>9}  {:>6}  {:>15}  {:>8}  {:>9}  {}",
                p.product_id,
                p.db_stock,
                p.confirmed,
                p.failed,
                opt(p.store_remaining),
                opt(p.store_reserved.map(|n| n as i64)),
                opt(p.in_flight()),
                p.name
            )?;
        }
        match self.queue {
            Some(q) => writeln!(
                f,
                "queue: {} orders waiting, {} dead-lettered",
                q.waiting, q.dead
            )?,
            None => writeln!(f, "queue: in-memory, not visible from another process")?,
        }
        if self.consistent() {
            writeln!(f, "verdict: consistent")
        } else {
            writeln!(f, "verdict: NOT consistent")?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}
