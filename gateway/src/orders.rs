//! A shopper's own orders: one order's status (`GET /order/{id}`) and the list, newest first
//! (`GET /orders`).
//!
//! An accepted order is in the database once the worker has drained it; until then this node
//! remembers it as pending, so the shopper's pages say "queued" rather than "not found". Both
//! requests are decided on the shopper's owner node, the one that accepted their orders.

use crate::reply::Reply;
use crate::shop::Shop;
use dashmap::DashMap;
use flashsale_core::db::{OrderCursor, ShopperOrder};
use flashsale_core::domain::{is_order_id, OrderMessage, OrderStatus};
use serde_json::json;
use std::time::{Duration, Instant};

/// Orders on one page of `GET /orders`.
pub const ORDERS_PER_PAGE: usize = 20;

/// How long an accepted order is remembered while it waits for the worker.
const PENDING_FOR: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct PendingOrders {
    orders: DashMap<String, Pending>,
}

struct Pending {
    user_id: i64,
    product_id: i64,
    /// Unix milliseconds, as the database will hold it.
    accepted_at: i64,
    at: Instant,
}

impl PendingOrders {
    pub fn insert(&self, order: &OrderMessage) {
        self.orders.insert(
            order.order_id.clone(),
            Pending {
                user_id: order.user_id,
                product_id: order.product_id,
                accepted_at: order.accepted_at,
                at: Instant::now(),
            },
        );
    }

    /// `user_id`'s pending orders as (order id, product id, accepted at).
    fn of_user(&self, user_id: i64) -> Vec<(String, i64, i64)> {
        self.orders
            .iter()
            .filter(|p| p.user_id == user_id)
            .map(|p| (p.key().clone(), p.product_id, p.accepted_at))
            .collect()
    }

    /// The product and acceptance time of `order_id` if `user_id` placed it.
    fn get(&self, order_id: &str, user_id: i64) -> Option<(i64, i64)> {
        self.orders
            .get(order_id)
            .filter(|p| p.user_id == user_id)
            .map(|p| (p.product_id, p.accepted_at))
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
            let json = status_json(
                shop,
                order_id,
                order.product_id,
                order.status,
                order.created_at,
            );
            Reply::json(200, json)
        }
        Ok(Some(_)) => not_found(),
        Ok(None) => match shop.pending.get(order_id, user_id) {
            Some((product_id, accepted_at)) => {
                let json =
                    status_json(shop, order_id, product_id, OrderStatus::Queued, accepted_at);
                Reply::json(200, json)
            }
            None => not_found(),
        },
        Err(e) => {
            tracing::warn!(error = %e, "could not read an order");
            Reply::json(503, json!({"result": "unavailable"}))
        }
    }
}

/// The pinned fields, and what the order page shows besides: the product's name and price
/// (`null` once the product is gone) and when the order was placed (unix milliseconds).
fn status_json(
    shop: &Shop,
    order_id: &str,
    product_id: i64,
    status: OrderStatus,
    created_at: i64,
) -> serde_json::Value {
    let product = shop.catalog.get(product_id);
    json!({
        "orderId": order_id,
        "productId": product_id,
        "status": status.as_str(),
        "productName": product.as_ref().map(|p| p.name.as_str()),
        "priceCents": product.as_ref().map(|p| p.price_cents),
        "createdAt": created_at,
    })
}

/// `GET /orders[?after=cursor]`: `user_id`'s orders, newest first, [`ORDERS_PER_PAGE`] at a
/// time, with the ones still on the queue (not yet in the database) among them.
pub async fn list_orders(shop: &Shop, user_id: i64, after: Option<&str>) -> Reply {
    let cursor = match after.map(parse_cursor) {
        None => None,
        Some(Some(cursor)) => Some(cursor),
        Some(None) => return Reply::json(400, json!({"result": "bad_request"})),
    };
    let limit = ORDERS_PER_PAGE as i64 + 1;
    let stored = match shop
        .db
        .orders_of_shopper(user_id, cursor.as_ref(), limit)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "could not read a shopper's orders");
            return Reply::json(503, json!({"result": "unavailable"}));
        }
    };
    let mut orders: Vec<ShopperOrder> = Vec::with_capacity(stored.len());
    for order in stored {
        shop.pending.remove(&order.order_id);
        orders.push(order);
    }
    for (order_id, product_id, accepted_at) in shop.pending.of_user(user_id) {
        let newer_than_cursor = cursor.as_ref().is_some_and(|c| {
            (accepted_at, order_id.as_str()) >= (c.created_at, c.order_id.as_str())
        });
        if newer_than_cursor || orders.iter().any(|o| o.order_id == order_id) {
            continue;
        }
        let product = shop.catalog.get(product_id);
        orders.push(ShopperOrder {
            order_id,
            product_id,
            product_name: product.as_ref().map(|p| p.name.clone()),
            price_cents: product.as_ref().map(|p| p.price_cents),
            status: OrderStatus::Queued,
            created_at: accepted_at,
        });
    }
    orders.sort_by(|a, b| {
        (b.created_at, b.order_id.as_str()).cmp(&(a.created_at, a.order_id.as_str()))
    });
    let next = if orders.len() > ORDERS_PER_PAGE {
        orders.truncate(ORDERS_PER_PAGE);
        orders
            .last()
            .map(|o| format!("{}.{}", o.created_at, o.order_id))
    } else {
        None
    };
    let list: Vec<serde_json::Value> = orders
        .iter()
        .map(|o| {
            json!({
                "orderId": o.order_id,
                "productId": o.product_id,
                "productName": o.product_name,
                "priceCents": o.price_cents,
                "status": o.status.as_str(),
                "createdAt": o.created_at,
            })
        })
        .collect();
    Reply::json(200, json!({"orders": list, "next": next}))
}

/// A cursor is `{createdAt}.{orderId}` of the last order of the page before.
fn parse_cursor(text: &str) -> Option<OrderCursor> {
    let (at, id) = text.split_once('.')?;
    let created_at = at.parse::<i64>().ok()?;
    is_order_id(id).then(|| OrderCursor {
        created_at,
        order_id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_a_time_and_an_order_id() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            parse_cursor(&format!("1700000000000.{id}")),
            Some(OrderCursor {
                created_at: 1_700_000_000_000,
                order_id: id.to_owned()
            })
        );
        assert_eq!(parse_cursor(id), None);
        assert_eq!(parse_cursor("x.0123456789abcdef0123456789abcdef"), None);
        assert_eq!(parse_cursor("1700000000000.not-an-id"), None);
    }
}
