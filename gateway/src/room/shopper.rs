//! A shopper at the waiting room: a challenge, a join, and their standing in the line.

use super::{refusal, scope, LineState, Room, CHALLENGE_SECS};
use crate::reply::Reply;
use crate::shop::Shop;
use flashsale_core::domain::Product;
use flashsale_core::waiting_room::{JoinRequest, Joined, Phase, Place};
use serde_json::json;

/// A shopper's standing, as `GET /queue/{id}/status` answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub state: LineState,
    pub place: Option<Place>,
    pub ahead: Option<u64>,
    pub admitted: bool,
    pub admitted_until: Option<i64>,
    pub eta_seconds: Option<i64>,
    pub opens_at: i64,
    pub refresh_seconds: i64,
    pub sold_out: bool,
}

impl Status {
    pub fn json(&self) -> serde_json::Value {
        json!({
            "state": self.state.as_str(),
            "joined": self.place.is_some(),
            "position": self.place.and_then(|p| p.position),
            "ahead": self.ahead,
            "admitted": self.admitted,
            "admittedUntil": self.admitted_until,
            "etaSeconds": self.eta_seconds,
            "opensAt": self.opens_at,
            "refreshSeconds": self.refresh_seconds,
            "soldOut": self.sold_out,
        })
    }
}

impl Room {
    /// A challenge for `user_id` to join `product`'s line: `{challenge, difficulty, expiresIn}`.
    pub fn challenge(&self, product_id: i64, user_id: i64, now: i64) -> serde_json::Value {
        let c = self.key.issue(
            &scope(product_id),
            user_id,
            now + CHALLENGE_SECS,
            self.settings.difficulty,
        );
        json!({"challenge": c.text, "difficulty": c.difficulty, "expiresIn": CHALLENGE_SECS})
    }

    /// The shopper's standing; `None` when the line cannot be trusted (store unreachable).
    pub async fn status(
        &self,
        product: &Product,
        user_id: i64,
        now_ms: i64,
        sold_out: bool,
    ) -> Option<Status> {
        let state = self.state(product, now_ms, sold_out);
        let mut status = Status {
            state,
            place: None,
            ahead: None,
            admitted: false,
            admitted_until: None,
            eta_seconds: None,
            opens_at: self.opens_at(product),
            refresh_seconds: 30,
            sold_out,
        };
        if state == LineState::Closed {
            // No one can be in a line that has not opened: no store needed.
            status.refresh_seconds = (status.opens_at - now_ms / 1000).clamp(1, 30);
            return Some(status);
        }
        let view = self.line(product, now_ms).await?;
        let place = self
            .place(product.id, user_id, view.line.drawn)
            .await
            .ok()?;
        status.place = place;
        status.refresh_seconds = match state {
            LineState::Prequeue => product
                .sale_start
                .map_or(5, |s| (s - now_ms / 1000).clamp(1, 5)),
            LineState::Ended => 60,
            _ => 5,
        };
        let Some(place) = place else {
            return Some(status);
        };
        let Some(position) = place.position else {
            return Some(status);
        };
        let serving = view.line.schedule.serving(now_ms);
        status.ahead = Some(position.saturating_sub(serving).saturating_sub(1));
        let (admitted, at) = self.admitted(&view.line, place, now_ms);
        status.admitted = admitted && state == LineState::Queueing;
        status.admitted_until = at.map(|at| (at + self.settings.pass_secs * 1000) / 1000);
        if let Some(at) = at {
            let wait_ms = (at - now_ms).max(0);
            status.eta_seconds = Some((wait_ms + 999) / 1000);
            if state == LineState::Queueing && !admitted && wait_ms > 0 {
                status.refresh_seconds = (wait_ms / 4000).clamp(1, 10);
            }
        }
        Some(status)
    }

    /// Joins the shopper after checking the challenge. `Err` is the reply to send.
    pub async fn join(
        &self,
        shop: &Shop,
        product: &Product,
        user_id: i64,
        challenge: &str,
        nonce: &str,
        now_ms: i64,
    ) -> Result<Status, Reply> {
        let sold_out = shop.catalog.is_sold_out(product.id);
        match self.state(product, now_ms, sold_out) {
            LineState::Closed => return Err(refusal(403, "not_open_yet")),
            LineState::Ended => return Err(refusal(403, "ended")),
            LineState::Prequeue | LineState::Queueing => {}
        }
        let checked = match self.key.verify(
            challenge,
            nonce,
            &scope(product.id),
            user_id,
            now_ms / 1000,
            self.settings.difficulty,
        ) {
            Ok(c) => c,
            Err(why) => {
                tracing::debug!(product_id = product.id, %why, "challenge refused");
                self.refused(product.id);
                return Err(refusal(400, "bad_challenge"));
            }
        };
        let phase = if self.state(product, now_ms, false) == LineState::Queueing {
            Phase::Queueing
        } else {
            Phase::Prequeue
        };
        let request = JoinRequest {
            phase,
            start: Self::line_start(product, now_ms),
            challenge_id: &checked.id,
            challenge_ttl_ms: u64::try_from((checked.expires * 1000 - now_ms).max(1000))
                .unwrap_or(1000),
            now_ms,
        };
        match self.store.join(product.id, user_id, &request).await {
            Ok(Joined::Place(place)) => self.remember(product.id, user_id, Some(place)),
            Ok(Joined::ChallengeUsed) => {
                self.refused(product.id);
                return Err(refusal(400, "bad_challenge"));
            }
            Err(e) => {
                tracing::warn!(product_id = product.id, error = %e, "could not join; answering unavailable");
                return Err(refusal(503, "unavailable"));
            }
        }
        self.status(product, user_id, now_ms, sold_out)
            .await
            .ok_or_else(|| refusal(503, "unavailable"))
    }
}
