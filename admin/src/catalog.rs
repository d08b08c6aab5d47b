//! What the pages and the API both do to the catalogue: create, edit, delete, republish.

use crate::{AdminState, AppError};
use flashsale_core::domain::{NewProduct, Product};
use flashsale_core::stock::load_from_db;
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
    load_from_db(&state.db, state.stock.as_ref(), &product).await?;
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

/// Sets the stock store's units of product `id` after the admin set its stock to `stock`.
///
/// `StockStore::load` replaces what the store knows of the product, and a sale may be running.
/// Orders already reserved in the store but still on the queue (not yet in the database) will
/// each take a unit from the stock just set when the worker records them. Loading `stock` as
/// it is would sell those units twice over (the database refuses the extra orders: they end
/// `failed` after the shopper was told `queued`). So the store gets `stock` less the orders
/// in flight, counted as holders in the store minus orders in the database.
///
/// The database is read first: an order recorded between the two reads then counts as in
/// flight, which undersells by one rather than oversells. What `load` cannot keep is the
/// in-flight shoppers themselves (the trait can only name holders that have an order in the
/// database): one of them clicking again in that instant may reserve a second unit, which
/// the database's one-order-per-shopper key refuses; that unit is then held, never sold
/// twice. Editing stock in the middle of a storm is rare; never overselling is what matters.
async fn reset_stock(state: &AdminState, id: i64, stock: i64) -> Result<(), AppError> {
    let holders = state.db.order_holders(id).await?;
    let in_store = state.stock.holders(id).await?.unwrap_or(0);
    let in_flight = i64::try_from(in_store)
        .unwrap_or(i64::MAX)
        .saturating_sub(holders.len() as i64)
        .max(0);
    let remaining = stock.saturating_sub(in_flight).max(0);
    state.stock.load(id, remaining, &holders).await?;
    tracing::info!(
        product = id,
        stock,
        in_flight,
        remaining,
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

/// Renders the catalogue into the site; only changed pages are rewritten. One at a time.
pub async fn publish(state: &AdminState) -> Result<RenderSummary, AppError> {
    let mut last = state.last_publish.lock().await;
    let products = state.db.list_products().await?;
    let site = state.site.clone();
    let summary =
        tokio::task::spawn_blocking(move || flashsale_sitegen::render_site(&products, &site))
            .await
            .map_err(|e| AppError::Internal(format!("the render task failed: {e}")))??;
    *last = Some(summary.clone());
    Ok(summary)
}

/// A render summary as pages and the API show it.
pub fn summary_json(s: &RenderSummary) -> serde_json::Value {
    serde_json::json!({
        "rendered": s.rendered,
        "unchanged": s.unchanged,
        "removed": s.removed,
        "changed": s.changed,
        "elapsedMs": s.elapsed.as_millis() as u64,
    })
}
