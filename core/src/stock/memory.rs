//! The embedded stock store: one lock per product, in this process.

use super::{Reservation, StockError, StockStore};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

#[derive(Default)]
struct ProductStock {
    remaining: i64,
    holders: HashSet<i64>,
}

/// Stock kept in memory. Each product has its own lock, so shoppers of different products
/// never wait on each other; the check and the decrement happen under that one lock.
#[derive(Default)]
pub struct MemoryStock {
    products: RwLock<HashMap<i64, Arc<Mutex<ProductStock>>>>,
}

impl MemoryStock {
    pub fn new() -> Self {
        Self::default()
    }

    fn product(&self, product_id: i64) -> Option<Arc<Mutex<ProductStock>>> {
        // A poisoned lock means a panic mid-update elsewhere; the data is plain numbers and a
        // set, still consistent at every step, so we keep going with it.
        let products = self.products.read().unwrap_or_else(|e| e.into_inner());
        products.get(&product_id).cloned()
    }
}

#[async_trait]
impl StockStore for MemoryStock {
    async fn reserve(&self, product_id: i64, user_id: i64) -> Result<Reservation, StockError> {
        let Some(product) = self.product(product_id) else {
            return Ok(Reservation::NotLoaded);
        };
        let mut p = product.lock().unwrap_or_else(|e| e.into_inner());
        Ok(if p.holders.contains(&user_id) {
            Reservation::AlreadyHeld
        } else if p.remaining <= 0 {
            Reservation::SoldOut
        } else {
            p.remaining -= 1;
            p.holders.insert(user_id);
            Reservation::Reserved
        })
    }

    async fn release(&self, product_id: i64, user_id: i64) -> Result<bool, StockError> {
        let Some(product) = self.product(product_id) else {
            return Ok(false);
        };
        let mut p = product.lock().unwrap_or_else(|e| e.into_inner());
        let held = p.holders.remove(&user_id);
        if held {
            p.remaining += 1;
        }
        Ok(held)
    }

    async fn load(
        &self,
        product_id: i64,
        remaining: i64,
        holders: &[i64],
    ) -> Result<(), StockError> {
        let fresh = ProductStock {
            remaining: remaining.max(0),
            holders: holders.iter().copied().collect(),
        };
        let mut products = self.products.write().unwrap_or_else(|e| e.into_inner());
        match products.get(&product_id) {
            Some(existing) => *existing.lock().unwrap_or_else(|e| e.into_inner()) = fresh,
            None => {
                products.insert(product_id, Arc::new(Mutex::new(fresh)));
            }
        }
        Ok(())
    }

    async fn remaining(&self, product_id: i64) -> Result<Option<i64>, StockError> {
        Ok(self
            .product(product_id)
            .map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_product_is_not_loaded_not_unlimited() {
        let s = MemoryStock::new();
        assert_eq!(s.reserve(1, 1).await.ok(), Some(Reservation::NotLoaded));
        assert_eq!(s.remaining(1).await.ok(), Some(None));
    }

    #[tokio::test]
    async fn one_unit_per_shopper_and_never_below_zero() {
        let s = MemoryStock::new();
        s.load(1, 2, &[]).await.expect("load");
        assert_eq!(s.reserve(1, 10).await.ok(), Some(Reservation::Reserved));
        assert_eq!(s.reserve(1, 10).await.ok(), Some(Reservation::AlreadyHeld));
        assert_eq!(s.reserve(1, 11).await.ok(), Some(Reservation::Reserved));
        assert_eq!(s.reserve(1, 12).await.ok(), Some(Reservation::SoldOut));
        assert_eq!(s.remaining(1).await.ok(), Some(Some(0)));
        assert!(s.release(1, 11).await.expect("release"));
        assert!(!s.release(1, 11).await.expect("release twice"));
        assert_eq!(s.remaining(1).await.ok(), Some(Some(1)));
        assert_eq!(s.reserve(1, 12).await.ok(), Some(Reservation::Reserved));
    }

    #[tokio::test]
    async fn holders_loaded_from_the_database_cannot_buy_again() {
        let s = MemoryStock::new();
        s.load(1, 5, &[7]).await.expect("load");
        assert_eq!(s.reserve(1, 7).await.ok(), Some(Reservation::AlreadyHeld));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_reservations_never_oversell() {
        let s = Arc::new(MemoryStock::new());
        s.load(1, 100, &[]).await.expect("load");
        let mut tasks = Vec::new();
        for user in 0..1000 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move { s.reserve(1, user % 500).await }));
        }
        let mut reserved = 0;
        for t in tasks {
            if t.await.expect("task").expect("reserve") == Reservation::Reserved {
                reserved += 1;
            }
        }
        assert_eq!(reserved, 100);
        assert_eq!(s.remaining(1).await.ok(), Some(Some(0)));
    }
}
