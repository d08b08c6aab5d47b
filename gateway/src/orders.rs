//! Order status for the shopper who placed it: `GET /order/{id}`.
//!
//! An accepted order is in the database once the worker has drained it; until then this node
//! remembers it as pending, so the shopper's page can say "queued" rather than "not found".

use crate::reply::Reply;
use crate::shop::Shop;
use dashmap::DashMap;
use flashsale_core::domain::{is_order_id, OrderStatus};
use serde_json::json;
use std::time::{Duration, Instant};

/// How long an accepted order is remembered while it waits for the worker.
const PENDING_FOR: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct PendingOrders {
    orders: DashMap<String, Pending>,
}

struct Pending {
    user_id: i64,
    product_id: i64,
    at: Instant,
}

impl PendingOrders {
    pub fn insert(&self, order_id: String, user_id: i64, product_id: i64) {
        self.orders.insert(
            order_id,
            Pending {
                user_id,
                product_id,
                at: Instant::now(),
            },
        );
    }

    fn get(&self, order_id: &str, user_id: i64) -> Option<i64> {
        self.orders
            .get(order_id)
            .filter(|p| p.user_id == user_id)
            .map(|p| p.product_id)
    }

    fn remove(&self, order_id: &str) {
        self.orders.remove(order_id);
    }

    pub fn sweep(&self, now: Instant) {
        self.orders
            .retain(|_, p| now.saturating_duration_since(p.at) < PENDING_FOR);
    }
}

/// The status of `order_id` if it belongs to `user_id`; 404 for anyone else's or unknown ids.
pub async fn order_status(shop: &Shop, user_id: i64, order_id: &str) -> Reply {
    let not_found = || Reply::json(404, json!({"result": "not_found"}));
    if !is_order_id(order_id) {
        return not_found();
    }
    match shop.db.find_order(order_id).await {
        Ok(Some(order)) if order.user_id == user_id => {
            shop.pending.remove(order_id);
            Reply::json(200, status_json(order_id, order.product_id, order.status))
        }
        Ok(Some(_)) => not_found(),
        Ok(None) => match shop.pending.get(order_id, user_id) {
            Some(product_id) => {
                Reply::json(200, status_json(order_id, product_id, OrderStatus::Queued))
            }
            None => not_found(),
        },
        Err(e) => {
            tracing::warn!(error = %e, "could not read an order");
            Reply::json(503, json!({"result": "unavailable"}))
        }
    }
}

fn status_json(order_id: &str, product_id: i64, status: OrderStatus) -> serde_json::Value {
    json!({"orderId": order_id, "productId": product_id, "status": status.as_str()})
}
