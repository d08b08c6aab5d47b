//! The embedded stock store: one lock per product, in this process.

use super::{Claim, Holder, Release, Reservation, StockError, StockStore};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

#[derive(Default)]
struct ProductStock {
    remaining: i64,
    /// Shopper -> their order, and whether the worker claimed it.
    holders: HashMap<i64, Held>,
    /// Orders the gateway withdrew; kept so a redelivered message is dropped again.
    withdrawn: HashSet<String>,
}

struct Held {
    order_id: String,
    claimed: bool,
}

impl ProductStock {
    fn new(remaining: i64, holders: &[Holder]) -> Self {
        ProductStock {
            remaining: remaining.max(0),
            holders: holders
                .iter()
                .map(|h| {
                    let held = Held {
                        order_id: h.order_id.clone(),
                        claimed: true,
                    };
                    (h.user_id, held)
                })
                .collect(),
            withdrawn: HashSet::new(),
        }
    }
}

/// Stock kept in memory. Each product has its own lock, so shoppers of different products
/// never wait on each other; every decision happens under that one lock.
#[derive(Default)]
pub struct MemoryStock {
    products: RwLock<HashMap<i64, Arc<Mutex<ProductStock>>>>,
}

impl MemoryStock {
    pub fn new() -> Self {
        Self::default()
    }

    fn product(&self, product_id: i64) -> Option<Arc<Mutex<ProductStock>>> {
        // A poisoned lock means a panic elsewhere; the data is plain numbers and sets, updated
        // in single steps, so it is still consistent and we keep going with it.
        let products = self.products.read().unwrap_or_else(|e| e.into_inner());
        products.get(&product_id).cloned()
    }
}

fn lock(p: &Mutex<ProductStock>) -> MutexGuard<'_, ProductStock> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl StockStore for MemoryStock {
    async fn reserve(
        &self,
        product_id: i64,
        user_id: i64,
        order_id: &str,
    ) -> Result<Reservation, StockError> {
        let Some(product) = self.product(product_id) else {
            return Ok(Reservation::NotLoaded);
        };
        let mut p = lock(&product);
        Ok(if p.holders.contains_key(&user_id) {
            Reservation::AlreadyHeld
        } else if p.remaining <= 0 {
            Reservation::SoldOut
        } else {
            p.remaining -= 1;
            let held = Held {
                order_id: order_id.to_string(),
                claimed: false,
            };
            p.holders.insert(user_id, held);
            Reservation::Reserved
        })
    }

    async fn release(
        &self,
        product_id: i64,
        user_id: i64,
        order_id: &str,
    ) -> Result<Release, StockError> {
        let Some(product) = self.product(product_id) else {
            return Ok(Release::Withdrawn);
        };
        let mut p = lock(&product);
        match p.holders.get(&user_id) {
            Some(held) if held.order_id == order_id && held.claimed => Ok(Release::Claimed),
            Some(held) if held.order_id == order_id => {
                p.holders.remove(&user_id);
                p.remaining += 1;
                p.withdrawn.insert(order_id.to_string());
                Ok(Release::Withdrawn)
            }
            _ => {
                p.withdrawn.insert(order_id.to_string());
                Ok(Release::Withdrawn)
            }
        }
    }

    async fn claim(
        &self,
        product_id: i64,
        orders: &[(i64, &str)],
    ) -> Result<Vec<Claim>, StockError> {
        let Some(product) = self.product(product_id) else {
            // Unknown product: nothing was withdrawn here; the database decides.
            return Ok(vec![Claim::Record; orders.len()]);
        };
        let mut p = lock(&product);
        Ok(orders
            .iter()
            .map(|&(user_id, order_id)| {
                if p.withdrawn.contains(order_id) {
                    return Claim::Withdrawn;
                }
                if let Some(held) = p.holders.get_mut(&user_id) {
                    if held.order_id == order_id {
                        held.claimed = true;
                    }
                }
                Claim::Record
            })
            .collect())
    }

    async fn load(
        &self,
        product_id: i64,
        remaining: i64,
        holders: &[Holder],
    ) -> Result<(), StockError> {
        let mut products = self.products.write().unwrap_or_else(|e| e.into_inner());
        let mut fresh = ProductStock::new(remaining, holders);
        match products.get(&product_id) {
            Some(existing) => {
                let mut existing = lock(existing);
                // Withdrawn orders may still be on the queue: remember them across reloads.
                fresh.withdrawn = std::mem::take(&mut existing.withdrawn);
                *existing = fresh;
            }
            None => {
                products.insert(product_id, Arc::new(Mutex::new(fresh)));
            }
        }
        Ok(())
    }

    async fn load_if_missing(
        &self,
        product_id: i64,
        remaining: i64,
        holders: &[Holder],
    ) -> Result<bool, StockError> {
        let mut products = self.products.write().unwrap_or_else(|e| e.into_inner());
        if products.contains_key(&product_id) {
            return Ok(false);
        }
        let fresh = ProductStock::new(remaining, holders);
        products.insert(product_id, Arc::new(Mutex::new(fresh)));
        Ok(true)
    }

    async fn remaining(&self, product_id: i64) -> Result<Option<i64>, StockError> {
        Ok(self.product(product_id).map(|p| lock(&p).remaining))
    }

    async fn holders(&self, product_id: i64) -> Result<Option<u64>, StockError> {
        Ok(self
            .product(product_id)
            .map(|p| lock(&p).holders.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(user_id: i64, order_id: &str) -> Holder {
        Holder {
            user_id,
            order_id: order_id.into(),
        }
    }

    #[tokio::test]
    async fn unknown_product_is_not_loaded_not_unlimited() {
        let s = MemoryStock::new();
        assert_eq!(
            s.reserve(1, 1, "o1").await.ok(),
            Some(Reservation::NotLoaded)
        );
        assert_eq!(s.remaining(1).await.ok(), Some(None));
        assert_eq!(s.holders(1).await.ok(), Some(None));
    }

    #[tokio::test]
    async fn one_unit_per_shopper_and_never_below_zero() {
        let s = MemoryStock::new();
        s.load(1, 2, &[]).await.expect("load");
        assert_eq!(
            s.reserve(1, 10, "a").await.ok(),
            Some(Reservation::Reserved)
        );
        assert_eq!(
            s.reserve(1, 10, "b").await.ok(),
            Some(Reservation::AlreadyHeld)
        );
        assert_eq!(
            s.reserve(1, 11, "c").await.ok(),
            Some(Reservation::Reserved)
        );
        assert_eq!(s.reserve(1, 12, "d").await.ok(), Some(Reservation::SoldOut));
        assert_eq!(s.remaining(1).await.ok(), Some(Some(0)));
        assert_eq!(s.release(1, 11, "c").await.ok(), Some(Release::Withdrawn));
        assert_eq!(s.remaining(1).await.ok(), Some(Some(1)));
        // A second release of the same order gives nothing back twice.
        assert_eq!(s.release(1, 11, "c").await.ok(), Some(Release::Withdrawn));
        assert_eq!(s.remaining(1).await.ok(), Some(Some(1)));
        assert_eq!(
            s.reserve(1, 12, "e").await.ok(),
            Some(Reservation::Reserved)
        );
    }

    #[tokio::test]
    async fn claim_first_refuses_the_release() {
        let s = MemoryStock::new();
        s.load(1, 5, &[]).await.expect("load");
        s.reserve(1, 10, "a").await.expect("reserve");
        assert_eq!(
            s.claim(1, &[(10, "a")]).await.ok(),
            Some(vec![Claim::Record])
        );
        assert_eq!(s.release(1, 10, "a").await.ok(), Some(Release::Claimed));
        assert_eq!(s.remaining(1).await.ok(), Some(Some(4)));
        // Redelivered: still recorded.
        assert_eq!(
            s.claim(1, &[(10, "a")]).await.ok(),
            Some(vec![Claim::Record])
        );
    }

    #[tokio::test]
    async fn release_first_withdraws_the_order_for_good() {
        let s = MemoryStock::new();
        s.load(1, 5, &[]).await.expect("load");
        s.reserve(1, 10, "a").await.expect("reserve");
        assert_eq!(s.release(1, 10, "a").await.ok(), Some(Release::Withdrawn));
        // The shopper buys again with a new order; the old message must still be dropped,
        // the new one recorded, even after a reload.
        s.reserve(1, 10, "b").await.expect("reserve again");
        s.load(1, 4, &[holder(10, "b")]).await.expect("reload");
        assert_eq!(
            s.claim(1, &[(10, "a"), (10, "b")]).await.ok(),
            Some(vec![Claim::Withdrawn, Claim::Record])
        );
        assert_eq!(
            s.claim(1, &[(10, "a")]).await.ok(),
            Some(vec![Claim::Withdrawn])
        );
    }

    #[tokio::test]
    async fn a_late_release_of_an_old_order_leaves_the_new_reservation_alone() {
        let s = MemoryStock::new();
        s.load(1, 5, &[]).await.expect("load");
        s.reserve(1, 10, "a").await.expect("reserve");
        assert_eq!(s.release(1, 10, "a").await.ok(), Some(Release::Withdrawn));
        assert_eq!(
            s.reserve(1, 10, "b").await.ok(),
            Some(Reservation::Reserved)
        );
        // The gateway retries a release whose answer it missed: order "a" again.
        assert_eq!(s.release(1, 10, "a").await.ok(), Some(Release::Withdrawn));
        assert_eq!(s.remaining(1).await.ok(), Some(Some(4)));
        assert_eq!(
            s.reserve(1, 10, "c").await.ok(),
            Some(Reservation::AlreadyHeld)
        );
        assert_eq!(
            s.claim(1, &[(10, "b")]).await.ok(),
            Some(vec![Claim::Record])
        );
    }

    #[tokio::test]
    async fn load_if_missing_never_resets_a_known_product() {
        let s = MemoryStock::new();
        assert!(s.load_if_missing(1, 5, &[]).await.expect("load"));
        assert_eq!(
            s.reserve(1, 10, "a").await.ok(),
            Some(Reservation::Reserved)
        );
        assert!(!s.load_if_missing(1, 5, &[]).await.expect("second load"));
        assert_eq!(s.remaining(1).await.ok(), Some(Some(4)));
        assert_eq!(s.holders(1).await.ok(), Some(Some(1)));
    }

    #[tokio::test]
    async fn holders_loaded_from_the_database_cannot_buy_again() {
        let s = MemoryStock::new();
        s.load(1, 5, &[holder(7, "x")]).await.expect("load");
        assert_eq!(
            s.reserve(1, 7, "y").await.ok(),
            Some(Reservation::AlreadyHeld)
        );
        // Their order counts as claimed: a late release cannot give the unit back.
        assert_eq!(s.release(1, 7, "x").await.ok(), Some(Release::Claimed));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_reservations_never_oversell() {
        let s = Arc::new(MemoryStock::new());
        s.load(1, 100, &[]).await.expect("load");
        let mut tasks = Vec::new();
        for n in 0..1000 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.reserve(1, n % 500, &format!("o{n}")).await
            }));
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

    /// The worker's claim and the gateway's release of one order on two threads released
    /// together, round after round: both orders happen, and each round settles exactly once.
    #[test]
    fn racing_claims_and_releases_on_threads_settle_every_order_exactly_once() {
        use futures::executor::block_on;
        const ROUNDS: i64 = 2_000;
        let s = MemoryStock::new();
        block_on(s.load(1, ROUNDS, &[])).expect("load");
        let order = |user: i64| format!("o{user}");
        for user in 0..ROUNDS {
            let r = block_on(s.reserve(1, user, &order(user))).expect("reserve");
            assert_eq!(r, Reservation::Reserved);
        }
        let start = std::sync::Barrier::new(2);
        let (claims, releases) = std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                (0..ROUNDS)
                    .map(|user| {
                        start.wait();
                        block_on(s.claim(1, &[(user, &order(user))])).expect("claim")[0]
                    })
                    .collect::<Vec<_>>()
            });
            let gateway = scope.spawn(|| {
                (0..ROUNDS)
                    .map(|user| {
                        start.wait();
                        block_on(s.release(1, user, &order(user))).expect("release")
                    })
                    .collect::<Vec<_>>()
            });
            (
                worker.join().expect("worker thread"),
                gateway.join().expect("gateway thread"),
            )
        });
        let (mut claim_won, mut release_won) = (0, 0);
        for (user, pair) in claims.into_iter().zip(releases).enumerate() {
            match pair {
                (Claim::Record, Release::Claimed) => claim_won += 1,
                (Claim::Withdrawn, Release::Withdrawn) => release_won += 1,
                other => panic!("round {user} settled twice or not at all: {other:?}"),
            }
        }
        assert!(
            claim_won > 0 && release_won > 0,
            "only one order happened (claim first {claim_won}, release first {release_won})"
        );
        assert_eq!(block_on(s.remaining(1)).ok(), Some(Some(release_won)));
        assert_eq!(block_on(s.holders(1)).ok(), Some(Some(claim_won as u64)));
    }
}
