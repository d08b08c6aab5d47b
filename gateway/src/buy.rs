//! The Buy decision (`POST /getOne`), independent of HTTP.
//!
//! In order: the product exists and its sale is open; a queued product's shopper is
//! admitted (see `room`); the shopper's cooldown has run out
//! (atomic check-and-set); the product is not flagged sold out; the stock store reserves one
//! unit (one per shopper, never below zero); the order is published. If publishing fails,
//! the order is withdrawn in the stock store before answering 503, so nothing is sold that is
//! not queued; if the worker had already claimed it (the broker took the message but its
//! confirm was lost), the answer is 202 after all. See the claim protocol in `core::stock`.

use crate::cooldown::Refused;
use crate::room::Admission;
use crate::shop::Shop;
use flashsale_core::domain::{new_order_id, now_unix, now_unix_ms, OrderMessage, SaleWindow};
use flashsale_core::stock::{Release, Reservation};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuyOutcome {
    Queued {
        order_id: String,
    },
    NoSuchProduct,
    NotOnSale,
    /// A queued product, and this shopper holds no valid admission.
    NotAdmitted,
    TooFast {
        retry_after: Duration,
    },
    SoldOut,
    AlreadyBought,
    /// Nothing was reserved; try again.
    Unavailable,
}

impl BuyOutcome {
    /// The contract's `result` word.
    pub fn result(&self) -> &'static str {
        match self {
            BuyOutcome::Queued { .. } => "queued",
            BuyOutcome::NoSuchProduct => "no_such_product",
            BuyOutcome::NotOnSale => "not_on_sale",
            BuyOutcome::NotAdmitted => "not_admitted",
            BuyOutcome::TooFast { .. } => "too_fast",
            BuyOutcome::SoldOut => "sold_out",
            BuyOutcome::AlreadyBought => "already_bought",
            BuyOutcome::Unavailable => "unavailable",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            BuyOutcome::Queued { .. } => 202,
            BuyOutcome::NoSuchProduct => 404,
            BuyOutcome::NotOnSale => 403,
            BuyOutcome::NotAdmitted => 403,
            BuyOutcome::TooFast { .. } => 429,
            BuyOutcome::SoldOut => 410,
            BuyOutcome::AlreadyBought => 409,
            BuyOutcome::Unavailable => 503,
        }
    }
}

pub async fn buy(shop: &Shop, user_id: i64, product_id: i64, now: Instant) -> BuyOutcome {
    let Some(product) = shop.catalog.get(product_id) else {
        return BuyOutcome::NoSuchProduct;
    };
    if product.sale_window(now_unix()) != SaleWindow::Open {
        return BuyOutcome::NotOnSale;
    }
    if product.queue {
        // Before the cooldown and any stock: a shopper who is not admitted spends nothing.
        match shop.room.admission(&product, user_id, now_unix_ms()).await {
            Admission::Admitted => {}
            Admission::NotAdmitted => return BuyOutcome::NotAdmitted,
            Admission::Unavailable => return BuyOutcome::Unavailable,
        }
    }
    match shop.cooldown.try_start(user_id, now) {
        Ok(()) => {}
        Err(Refused::Wait(retry_after)) => return BuyOutcome::TooFast { retry_after },
        Err(Refused::Full) => {
            tracing::warn!(
                capacity = shop.cooldown.capacity(),
                "the cooldown table is full; refusing new shoppers for now"
            );
            return BuyOutcome::Unavailable;
        }
    }
    if shop.catalog.is_sold_out(product_id) {
        return BuyOutcome::SoldOut;
    }
    let order = OrderMessage {
        order_id: new_order_id(),
        user_id,
        product_id,
        accepted_at: now_unix_ms(),
    };
    match shop
        .stock
        .reserve(product_id, user_id, &order.order_id)
        .await
    {
        Ok(Reservation::Reserved) => {}
        Ok(Reservation::AlreadyHeld) => return BuyOutcome::AlreadyBought,
        Ok(Reservation::SoldOut) => {
            shop.catalog.mark_sold_out(product_id);
            return BuyOutcome::SoldOut;
        }
        Ok(Reservation::NotLoaded) => {
            tracing::warn!(
                product_id,
                "stock of an on-sale product is not loaded; answering unavailable"
            );
            shop.catalog.mark_needs_load(product_id);
            return BuyOutcome::Unavailable;
        }
        Err(e) => {
            tracing::warn!(product_id, error = %e, "stock store failed; answering unavailable");
            // The call may have timed out after the store reserved the unit: withdraw this
            // order id, which gives the unit back if it was taken and is harmless if not.
            if let Err(e) = release(shop, product_id, user_id, &order.order_id).await {
                tracing::error!(product_id, user_id, error = %e, "could not withdraw an order");
            }
            return BuyOutcome::Unavailable;
        }
    }

    let publishing = shop.metrics.publishing();
    let published = shop.queue.publish(&order).await;
    drop(publishing);
    let queued = match published {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(product_id, error = %e, "could not queue an order; withdrawing it");
            match release(shop, product_id, user_id, &order.order_id).await {
                Ok(Release::Withdrawn) => false,
                Ok(Release::Claimed) => {
                    tracing::info!(
                        product_id,
                        "the broker had the order after all: the worker claimed it"
                    );
                    true
                }
                Err(e) => {
                    // The unit stays held until the stock is reloaded from the database; if
                    // the broker did take the message, the order is recorded.
                    tracing::error!(product_id, user_id, error = %e, "could not withdraw an order");
                    false
                }
            }
        }
    };
    if !queued {
        return BuyOutcome::Unavailable;
    }
    shop.pending.insert(&order);
    BuyOutcome::Queued {
        order_id: order.order_id,
    }
}

/// Gives a reservation back, trying a few times: a store call that times out under load must
/// not leave the unit held until the next reload.
async fn release(
    shop: &Shop,
    product_id: i64,
    user_id: i64,
    order_id: &str,
) -> Result<Release, flashsale_core::stock::StockError> {
    let mut attempt = 1;
    loop {
        match shop.stock.release(product_id, user_id, order_id).await {
            Err(e) if attempt < RELEASE_ATTEMPTS => {
                tracing::warn!(product_id, attempt, error = %e, "could not withdraw an order yet; trying again");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Attempts to give a reservation back before leaving it to the next stock reload (two, so
/// a 503 during a store outage still comes within a few seconds).
const RELEASE_ATTEMPTS: u32 = 2;
