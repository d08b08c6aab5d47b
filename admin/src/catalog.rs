//! What the pages and the API both do to the catalogue: create, edit, delete, republish.

use crate::state::GATEWAYS_FOLLOW_WITHIN_MS;
use crate::{AdminState, AppError};
use flashsale_core::domain::{NewProduct, Product};
use flashsale_core::stock_sync;
use flashsale_core::waiting_room::LineStart;
use flashsale_sitegen::RenderSummary;

/// Adds a product and makes its stock known to the stock store, so it can be bought as soon
/// as the gateways see it (they refresh their catalogue every few seconds).
pub async fn create(state: &AdminState, new: &NewProduct) -> Result<Product, AppError> {
    let id = state.db.insert_product(new).await?;
    let product = state
        .db
        .get_product(id)
        .await?
        .ok_or(AppError::NoSuchProduct(id))?;
    stock_sync::load(&state.db, state.stock.as_ref(), id).await?;
    push_rate(state, &product).await?;
    tracing::info!(product = id, "product added");
    Ok(product)
}

/// Replaces product `id`; when its stock changed, resets the stock store to match.
pub async fn update(state: &AdminState, id: i64, new: &NewProduct) -> Result<Product, AppError> {
    let old = state
        .db
        .get_product(id)
        .await?
        .ok_or(AppError::NoSuchProduct(id))?;
    if !state.db.update_product(id, new).await? {
        return Err(AppError::NoSuchProduct(id));
    }
    if new.stock != old.stock {
        reset_stock(state, id, new.stock).await?;
    }
    let product = state
        .db
        .get_product(id)
        .await?
        .ok_or(AppError::NoSuchProduct(id))?;
    // Every save, not only a changed one: the store ignores an unchanged rate, and saving
    // again is how an admin retries a push that failed (Redis was down).
    push_rate(state, &product).await?;
    tracing::info!(
        product = id,
        stock_changed = new.stock != old.stock,
        "product edited"
    );
    Ok(product)
}

/// Tells the waiting room a queued product's rate (0: paused) and start, so every gateway
/// admits at the new rate from now on, within a second (they re-read the line that often).
async fn push_rate(state: &AdminState, product: &Product) -> Result<(), AppError> {
    if !product.queue {
        return Ok(());
    }
    let now_ms = flashsale_core::domain::now_unix_ms();
    let start = LineStart {
        start_ms: product
            .sale_start
            .map_or(now_ms, |s| s.saturating_mul(1000)),
        rate: product.admit_per_second,
    };
    state.room.set_rate(product.id, start, now_ms).await?;
    tracing::info!(
        product = product.id,
        admit_per_second = product.admit_per_second,
        "waiting room rate set"
    );
    Ok(())
}

/// Sets the stock store's units of product `id` after the admin set its stock to `stock`,
/// counting the orders in flight (see [`stock_sync::reset`]).
async fn reset_stock(state: &AdminState, id: i64, stock: i64) -> Result<(), AppError> {
    let Some(reset) = stock_sync::reset(&state.db, state.stock.as_ref(), id, stock).await? else {
        return Err(AppError::NoSuchProduct(id));
    };
    tracing::info!(
        product = id,
        stock,
        in_flight = reset.in_flight,
        remaining = reset.remaining,
        "stock store reset"
    );
    Ok(())
}

/// Removes product `id` from the catalogue (its orders stay). The gateways stop selling it at
/// their next catalogue refresh; its page goes at the next republish.
pub async fn delete(state: &AdminState, id: i64) -> Result<(), AppError> {
    if !state.db.delete_product(id).await? {
        return Err(AppError::NoSuchProduct(id));
    }
    if let Err(e) = state.room.remove(id).await {
        // The line of a deleted product is never read again; only its keys stay behind.
        tracing::warn!(product = id, error = %e, "could not remove a waiting room");
    }
    tracing::info!(product = id, "product deleted");
    Ok(())
}

/// What a republish did, and whether the shop already serves it.
#[derive(Debug, Clone)]
pub struct Published {
    pub summary: RenderSummary,
    /// The gateway of this process loaded it before the answer; otherwise gateways follow
    /// within [`GATEWAYS_FOLLOW_WITHIN_MS`].
    pub live: bool,
}

/// Renders what changed in the catalogue into the site (see [`crate::republish`]). One at a
/// time.
/// Answers once the gateway of this process (if any) serves the new pages.
pub async fn publish(state: &AdminState) -> Result<Published, AppError> {
    let mut last = state.last_publish.lock().await;
    let summary = crate::republish::republish(&state.db, &state.open_site, &state.site).await?;
    let live = match &state.after_publish {
        Some(follow) => {
            follow().await;
            true
        }
        None => false,
    };
    let published = Published { summary, live };
    *last = Some(published.clone());
    Ok(published)
}

/// A republish as pages and the API show it.
pub fn summary_json(p: &Published) -> serde_json::Value {
    let s = &p.summary;
    serde_json::json!({
        "rendered": s.rendered,
        "unchanged": s.unchanged,
        "removed": s.removed,
        "changed": s.changed,
        "elapsedMs": s.elapsed.as_millis() as u64,
        "live": p.live,
        "liveWithinMs": if p.live { 0 } else { GATEWAYS_FOLLOW_WITHIN_MS },
    })
}
