//! The products the gateway knows, and which of them are sold out.
//!
//! Kept in memory and refreshed from the database in the background, so a Buy never waits on
//! the database. The sold-out flag saves a stock-store round trip for every click after the
//! last unit went; it is cleared when the store has stock again (an admin raised it).
//! A product whose stock the store has lost (a Redis restart) is answered `unavailable` and
//! queued here for a reload from the database, so the shop heals by itself.

use dashmap::DashSet;
use flashsale_core::domain::Product;
use flashsale_core::stock::StockStore;
use flashsale_core::stock_sync;
use flashsale_core::Db;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Default)]
pub struct Catalog {
    products: RwLock<Arc<HashMap<i64, Arc<Product>>>>,
    sold_out: DashSet<i64>,
    needs_load: DashSet<i64>,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A product, shared: a Buy reads it without copying its strings.
    pub fn get(&self, id: i64) -> Option<Arc<Product>> {
        self.snapshot().get(&id).cloned()
    }

    fn snapshot(&self) -> Arc<HashMap<i64, Arc<Product>>> {
        // Readers clone an Arc; a poisoned lock still holds a complete map (it is swapped whole).
        self.products
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every product, shared.
    pub fn all(&self) -> Vec<Arc<Product>> {
        self.snapshot().values().cloned().collect()
    }

    pub fn replace(&self, products: Vec<Product>) {
        let map = products.into_iter().map(|p| (p.id, Arc::new(p))).collect();
        *self.products.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
    }

    pub fn is_sold_out(&self, id: i64) -> bool {
        self.sold_out.contains(&id)
    }

    pub fn mark_sold_out(&self, id: i64) {
        self.sold_out.insert(id);
    }

    /// The store does not know this product's stock: reload it at the next refresh.
    pub fn mark_needs_load(&self, id: i64) {
        self.needs_load.insert(id);
    }

    /// Reloads the products, reloads stock the store has lost, and lifts the sold-out flag of any product the store has stock for.
    pub async fn refresh(
        &self,
        db: &Db,
        stock: &dyn StockStore,
    ) -> Result<(), flashsale_core::db::DbError> {
        self.replace(db.list_products().await?);
        let lost: Vec<i64> = self.needs_load.iter().map(|id| *id).collect();
        for id in lost {
            self.reload_stock(id, db, stock).await;
        }
        let flagged: Vec<i64> = self.sold_out.iter().map(|id| *id).collect();
        for id in flagged {
            if let Ok(Some(remaining)) = stock.remaining(id).await {
                if remaining > 0 {
                    self.sold_out.remove(&id);
                }
            }
        }
        Ok(())
    }

    async fn reload_stock(&self, id: i64, db: &Db, stock: &dyn StockStore) {
        let Some(product) = self.get(id) else {
            self.needs_load.remove(&id);
            return;
        };
        match stock_sync::load_missing(db, stock, id).await {
            Ok(loaded) => {
                if loaded {
                    tracing::info!(
                        product_id = id,
                        remaining = product.stock,
                        "stock reloaded from the database"
                    );
                }
                self.needs_load.remove(&id);
            }
            Err(e) => {
                tracing::warn!(product_id = id, error = %e, "could not reload stock; will retry")
            }
        }
    }
}
