//! What this node remembers of the waiting room: each queued product's line (refreshed in
//! the background) and the places of the shoppers it owns.

use super::{Room, ABSENT_FOR, STALE_AFTER};
use flashsale_core::domain::Product;
use flashsale_core::waiting_room::{Line, Place};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub(super) struct LineView {
    pub(super) line: Line,
    pub(super) fetched: Instant,
}

pub(super) enum Cached {
    /// Positioned: never changes.
    Place(Place),
    /// In the prequeue: changes only at the draw, then read once more.
    Prequeue(Place),
    /// Not in line, as of then.
    Absent(Instant),
}

impl Room {
    /// Counts a refused challenge (sent to the store's count at the next refresh).
    pub fn refused(&self, product_id: i64) {
        self.refused
            .entry(product_id)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every queued product's line from the store (drawing it if its start has
    /// passed), flushes refusal counts, and forgets lines of products no longer queued.
    pub async fn refresh(&self, products: &[Arc<Product>], now_ms: i64) {
        let mut seen = Vec::new();
        for product in products.iter().filter(|p| p.queue) {
            seen.push(product.id);
            if let Err(e) = self.fetch_line(product, now_ms).await {
                tracing::warn!(product_id = product.id, error = %e, "could not refresh a waiting room");
            }
            let count = self
                .refused
                .get(&product.id)
                .map_or(0, |c| c.swap(0, Ordering::Relaxed));
            if count > 0 {
                if let Err(e) = self.store.add_refused(product.id, count).await {
                    // Counted again next time.
                    self.refused
                        .entry(product.id)
                        .or_default()
                        .fetch_add(count, Ordering::Relaxed);
                    tracing::debug!(error = %e, "could not count refused challenges");
                }
            }
        }
        self.lines
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| seen.contains(id));
    }

    pub(super) async fn fetch_line(
        &self,
        product: &Product,
        now_ms: i64,
    ) -> Result<Arc<LineView>, flashsale_core::waiting_room::RoomError> {
        let due = Self::due(product, now_ms);
        let draw_from = due.then(|| Self::line_start(product, now_ms));
        let line = self.store.line(product.id, draw_from).await?;
        let view = Arc::new(LineView {
            line,
            fetched: Instant::now(),
        });
        self.lines
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(product.id, view.clone());
        Ok(view)
    }

    /// The product's line as this node knows it, if fresh; fetched once if this node has none
    /// yet (a product just added, a node just started).
    pub(super) async fn line(&self, product: &Product, now_ms: i64) -> Option<Arc<LineView>> {
        let known = self
            .lines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&product.id)
            .cloned();
        let due = Self::due(product, now_ms);
        match known {
            // Read before the start, and the start has passed: draw now rather than answer
            // from the prequeue for up to a refresh longer.
            Some(view) if due && !view.line.drawn => self.fetch_line(product, now_ms).await.ok(),
            Some(view) if view.fetched.elapsed() < STALE_AFTER => Some(view),
            Some(_) => None,
            None => self.fetch_line(product, now_ms).await.ok(),
        }
    }

    /// The shopper's place: from memory when this node knows it, else one store lookup.
    pub(super) async fn place(
        &self,
        product_id: i64,
        user_id: i64,
        drawn: bool,
    ) -> Result<Option<Place>, flashsale_core::waiting_room::RoomError> {
        if let Some(cached) = self.places.get(&(product_id, user_id)) {
            match &*cached {
                Cached::Place(p) => return Ok(Some(*p)),
                Cached::Prequeue(p) if !drawn => return Ok(Some(*p)),
                Cached::Absent(at) if at.elapsed() < ABSENT_FOR => return Ok(None),
                Cached::Prequeue(_) | Cached::Absent(_) => {}
            }
        }
        let place = self.store.place(product_id, user_id).await?;
        self.remember(product_id, user_id, place);
        Ok(place)
    }

    /// Forgets "not in line" answers that have run out, so shoppers who only looked at a
    /// line do not stay in memory (positions stay: they never change).
    pub fn sweep(&self) {
        self.places.retain(
            |_, cached| !matches!(cached, Cached::Absent(at) if at.elapsed() >= ABSENT_FOR),
        );
    }

    pub(super) fn remember(&self, product_id: i64, user_id: i64, place: Option<Place>) {
        let cached = match place {
            Some(p) if p.position.is_some() => Cached::Place(p),
            Some(p) => Cached::Prequeue(p),
            None => Cached::Absent(Instant::now()),
        };
        self.places.insert((product_id, user_id), cached);
    }
}
