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
use crate::reply::Reply;
use crate::room::Admission;
use crate::shop::Shop;
use crate::throttle::retry_after_secs;
use bytes::Bytes;
use flashsale_core::domain::{new_order_id, now_unix_ms, OrderMessage, SaleWindow};
use flashsale_core::stock::{Release, Reservation, StockStore};
use pingora::http::ResponseHeader;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Response headers of the answers that are the same every time, made once each (see
/// [`Reply::with_head`]): the fixed answers by [`fixed`]'s index, `too_fast` by its seconds
/// to wait (a cooldown of up to 17 minutes; a longer wait's header is made when sent).
static FIXED_HEADS: [OnceLock<ResponseHeader>; 8] = [const { OnceLock::new() }; 8];
static TOO_FAST_HEADS: [OnceLock<ResponseHeader>; 1024] = [const { OnceLock::new() }; 1024];

/// The clock a Buy is decided by, read once per request: the monotonic instant (the cooldown)
/// and the wall clock (the sale window, the waiting room's pass, the order's time).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub instant: Instant,
    /// Unix milliseconds.
    pub unix_ms: i64,
}

impl Now {
    pub fn system() -> Now {
        Now {
            instant: Instant::now(),
            unix_ms: now_unix_ms(),
        }
    }
}

/// Where a gateway reads its [`Now`]: the system's clocks, plus however far the clock was
/// moved ahead. Only in-process tests move it ([`Clock::advance`]), to get past a cooldown
/// without waiting it out; a running shop's clock is never moved, so it reads the system's.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to both system clocks; shared by every clone.
    ahead_ms: Arc<AtomicU64>,
}

impl Clock {
    pub fn now(&self) -> Now {
        let ahead = self.ahead_ms.load(Ordering::Relaxed);
        let system = Now::system();
        Now {
            instant: system.instant + Duration::from_millis(ahead),
            unix_ms: system.unix_ms.saturating_add_unsigned(ahead),
        }
    }

    /// Moves this clock (and every clone of it) `by` ahead: both the instant the cooldown
    /// reads and the wall clock of sale windows and orders.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms.fetch_add(by, Ordering::Relaxed);
    }
}

/// Every answer to `POST /getOne` (but `405` for another method): the one place that says its
/// status, body, headers and `result` word (the metrics count by that word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuyOutcome {
    Queued {
        order_id: String,
    },
    /// No valid `sign` token (or one revoked).
    Unauthorized,
    BadRequest,
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

/// Every `result` word of `/getOne`, in the order of the metrics' counters.
pub const RESULTS: [&str; 10] = [
    "queued",
    "not_admitted",
    "unauthorized",
    "bad_request",
    "no_such_product",
    "not_on_sale",
    "too_fast",
    "sold_out",
    "already_bought",
    "unavailable",
];

impl BuyOutcome {
    /// The contract's `result` word.
    pub fn result(&self) -> &'static str {
        match self {
            BuyOutcome::Queued { .. } => "queued",
            BuyOutcome::Unauthorized => "unauthorized",
            BuyOutcome::BadRequest => "bad_request",
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
            BuyOutcome::Unauthorized => 401,
            BuyOutcome::BadRequest => 400,
            BuyOutcome::NoSuchProduct => 404,
            BuyOutcome::NotOnSale => 403,
            BuyOutcome::NotAdmitted => 403,
            BuyOutcome::TooFast { .. } => 429,
            BuyOutcome::SoldOut => 410,
            BuyOutcome::AlreadyBought => 409,
            BuyOutcome::Unavailable => 503,
        }
    }

    /// The answer, tagged with its `result` word. The reject paths run at the machine's
    /// limit, where building JSON or a response header per request shows: the fixed answers
    /// are static bytes, and every answer but `queued` goes out with a header made once.
    pub fn reply(self) -> Reply {
        let status = self.status();
        let result = self.result();
        let reply = match self {
            BuyOutcome::Queued { order_id } => Reply::json_bytes(
                status,
                serde_json::json!({"result": result, "orderId": order_id})
                    .to_string()
                    .into(),
            ),
            BuyOutcome::TooFast { retry_after } => {
                let secs = retry_after_secs(retry_after);
                let reply = Reply::json_bytes(
                    status,
                    format!(r#"{{"result":"too_fast","retryAfter":{secs}}}"#).into(),
                )
                .header("Retry-After", secs.to_string());
                // Equal replies for equal seconds: status, headers and the body's length.
                match usize::try_from(secs)
                    .ok()
                    .and_then(|s| TOO_FAST_HEADS.get(s))
                {
                    Some(made) => with_made_head(reply, made),
                    None => reply,
                }
            }
            other => {
                let (index, body) = fixed(&other);
                with_made_head(
                    Reply::json_bytes(status, Bytes::from_static(body)),
                    &FIXED_HEADS[index],
                )
            }
        };
        reply.result_word(result)
    }
}

/// An answer that carries only its `result` word: its index in [`FIXED_HEADS`] and its body.
fn fixed(outcome: &BuyOutcome) -> (usize, &'static [u8]) {
    match outcome {
        BuyOutcome::Unauthorized => (0, br#"{"result":"unauthorized"}"#),
        BuyOutcome::BadRequest => (1, br#"{"result":"bad_request"}"#),
        BuyOutcome::NoSuchProduct => (2, br#"{"result":"no_such_product"}"#),
        BuyOutcome::NotOnSale => (3, br#"{"result":"not_on_sale"}"#),
        BuyOutcome::NotAdmitted => (4, br#"{"result":"not_admitted"}"#),
        BuyOutcome::SoldOut => (5, br#"{"result":"sold_out"}"#),
        BuyOutcome::AlreadyBought => (6, br#"{"result":"already_bought"}"#),
        // Queued and TooFast are not fixed; answered before this is asked.
        BuyOutcome::Unavailable | BuyOutcome::Queued { .. } | BuyOutcome::TooFast { .. } => {
            (7, br#"{"result":"unavailable"}"#)
        }
    }
}

/// `reply` with the response header kept in `made`, which is made from the first reply that
/// comes here: every reply that comes to one `made` is equal (status, headers, body length).
fn with_made_head(reply: Reply, made: &'static OnceLock<ResponseHeader>) -> Reply {
    if made.get().is_none() {
        // Two threads may both make it; one is kept, and both are the same.
        if let Ok(head) = reply.response_header() {
            let _ = made.set(head);
        }
    }
    match made.get() {
        Some(head) => reply.with_head(head),
        // Could not be made (it cannot fail for these names and values): made when sent.
        None => reply,
    }
}

pub async fn buy(shop: &Shop, user_id: i64, product_id: i64, now: Now) -> BuyOutcome {
    let Some(product) = shop.catalog.get(product_id) else {
        return BuyOutcome::NoSuchProduct;
    };
    if product.sale_window(now.unix_ms.div_euclid(1000)) != SaleWindow::Open {
        return BuyOutcome::NotOnSale;
    }
    if product.queue {
        // Before the cooldown and any stock: a shopper who is not admitted spends nothing.
        match shop.room.admission(&product, user_id, now.unix_ms).await {
            Admission::Admitted => {}
            Admission::NotAdmitted => return BuyOutcome::NotAdmitted,
            Admission::Unavailable => return BuyOutcome::Unavailable,
        }
    }
    match shop.cooldown.try_start(user_id, now.instant) {
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
        accepted_at: now.unix_ms,
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
            if let Err(e) = release(shop.stock.as_ref(), product_id, user_id, &order.order_id).await
            {
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
            match release(shop.stock.as_ref(), product_id, user_id, &order.order_id).await {
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
    stock: &dyn StockStore,
    product_id: i64,
    user_id: i64,
    order_id: &str,
) -> Result<Release, flashsale_core::stock::StockError> {
    let mut attempt = 1;
    loop {
        match stock.release(product_id, user_id, order_id).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::domain::Holder;
    use flashsale_core::stock::{Claim, StockError};

    fn body(reply: &Reply) -> serde_json::Value {
        serde_json::from_slice(&reply.body).expect("json")
    }

    #[test]
    fn a_clock_moved_ahead_moves_both_clocks_for_every_clone() {
        let clock = Clock::default();
        let shared = clock.clone();
        let before = Now::system();
        shared.advance(Duration::from_secs(10));
        let now = clock.now();
        assert!(now.instant >= before.instant + Duration::from_secs(10));
        assert!(now.unix_ms >= before.unix_ms + 10_000);
        // An unmoved clock reads the system's.
        let system = Clock::default().now();
        assert!(system.instant < before.instant + Duration::from_secs(10));
    }

    #[test]
    fn every_answer_carries_its_result_word_in_body_status_and_metrics_tag() {
        let all = [
            BuyOutcome::Queued {
                order_id: "abc".into(),
            },
            BuyOutcome::Unauthorized,
            BuyOutcome::BadRequest,
            BuyOutcome::NoSuchProduct,
            BuyOutcome::NotOnSale,
            BuyOutcome::NotAdmitted,
            BuyOutcome::TooFast {
                retry_after: Duration::from_secs(3),
            },
            BuyOutcome::SoldOut,
            BuyOutcome::AlreadyBought,
            BuyOutcome::Unavailable,
        ];
        let mut words: Vec<&str> = all.iter().map(BuyOutcome::result).collect();
        for outcome in all {
            let (word, status) = (outcome.result(), outcome.status());
            let reply = outcome.reply();
            assert_eq!(reply.status, status);
            assert_eq!(reply.result(), word);
            assert_eq!(body(&reply)["result"], word);
        }
        words.sort();
        let mut listed = RESULTS.to_vec();
        listed.sort();
        assert_eq!(words, listed, "the metrics count every word");
    }

    #[test]
    fn too_fast_rounds_the_wait_up_in_body_and_header() {
        let reply = BuyOutcome::TooFast {
            retry_after: Duration::from_millis(2_001),
        }
        .reply();
        assert_eq!(body(&reply)["retryAfter"], 3);
        assert!(reply
            .headers
            .iter()
            .any(|(n, v)| *n == "Retry-After" && v == "3"));
        let exact = BuyOutcome::TooFast {
            retry_after: Duration::from_secs(2),
        }
        .reply();
        assert_eq!(body(&exact)["retryAfter"], 2);
    }

    /// A header's status and (name, value) pairs in order, as they go out.
    fn wire(head: &ResponseHeader) -> (u16, Vec<(String, String)>) {
        let pairs = head
            .headers
            .iter()
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_string(), value)
            })
            .collect();
        (head.status.as_u16(), pairs)
    }

    #[test]
    fn answers_sent_with_a_header_made_before_send_what_a_new_header_says() {
        let mut outcomes = vec![
            BuyOutcome::Unauthorized,
            BuyOutcome::BadRequest,
            BuyOutcome::NoSuchProduct,
            BuyOutcome::NotOnSale,
            BuyOutcome::NotAdmitted,
            BuyOutcome::SoldOut,
            BuyOutcome::AlreadyBought,
            BuyOutcome::Unavailable,
        ];
        for millis in [
            1, 999, 1_000, 1_001, 9_500, 10_000, 63_000, 64_000, 3_600_000,
        ] {
            outcomes.push(BuyOutcome::TooFast {
                retry_after: Duration::from_millis(millis),
            });
        }
        // Twice round: the first makes the kept headers, the second sends them.
        for outcome in outcomes.iter().chain(&outcomes) {
            let reply = outcome.clone().reply();
            let sent = reply.header_to_send().expect("header");
            let new = reply.response_header().expect("header");
            assert_eq!(wire(&sent), wire(&new), "{outcome:?}");
            let length = reply.body.len().to_string();
            assert_eq!(
                sent.headers.get("content-length").map(|v| v.as_bytes()),
                Some(length.as_bytes()),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn a_header_added_to_a_kept_answer_goes_out() {
        // The owner cookie is added to a Buy's answer after it was decided.
        for _ in 0..2 {
            let reply = BuyOutcome::SoldOut
                .reply()
                .header("Set-Cookie", "owner=a:1; Path=/");
            let sent = reply.header_to_send().expect("header");
            assert_eq!(
                sent.headers.get("set-cookie").map(|v| v.as_bytes()),
                Some(&b"owner=a:1; Path=/"[..])
            );
            assert_eq!(wire(&sent), wire(&reply.response_header().expect("header")));
        }
    }

    #[test]
    fn queued_names_the_order() {
        let reply = BuyOutcome::Queued {
            order_id: "0123abcd".into(),
        }
        .reply();
        assert_eq!(reply.status, 202);
        assert_eq!(body(&reply)["orderId"], "0123abcd");
    }

    /// A memory store whose `release` fails its first `failures` calls, as a store call that
    /// times out under load does, and counts the calls.
    struct FailingRelease {
        inner: flashsale_core::stock::MemoryStock,
        failures: u32,
        calls: std::sync::atomic::AtomicU32,
    }

    impl FailingRelease {
        fn new(failures: u32) -> Self {
            FailingRelease {
                inner: flashsale_core::stock::MemoryStock::new(),
                failures,
                calls: Default::default(),
            }
        }

        fn calls(&self) -> u32 {
            self.calls.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    #[async_trait::async_trait]
    impl StockStore for FailingRelease {
        async fn reserve(&self, p: i64, u: i64, o: &str) -> Result<Reservation, StockError> {
            self.inner.reserve(p, u, o).await
        }
        async fn release(&self, p: i64, u: i64, o: &str) -> Result<Release, StockError> {
            let call = self
                .calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            if call <= self.failures {
                return Err(StockError::Unavailable("timed out".into()));
            }
            self.inner.release(p, u, o).await
        }
        async fn claim(&self, p: i64, o: &[(i64, &str)]) -> Result<Vec<Claim>, StockError> {
            self.inner.claim(p, o).await
        }
        async fn load(&self, p: i64, r: i64, h: &[Holder]) -> Result<(), StockError> {
            self.inner.load(p, r, h).await
        }
        async fn load_if_missing(&self, p: i64, r: i64, h: &[Holder]) -> Result<bool, StockError> {
            self.inner.load_if_missing(p, r, h).await
        }
        async fn remaining(&self, p: i64) -> Result<Option<i64>, StockError> {
            self.inner.remaining(p).await
        }
        async fn holders(&self, p: i64) -> Result<Option<u64>, StockError> {
            self.inner.holders(p).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_withdrawal_that_fails_once_is_tried_again_after_a_pause_and_the_unit_returns() {
        let store = FailingRelease::new(1);
        store.load(1, 1, &[]).await.expect("load");
        assert_eq!(
            store.reserve(1, 7, "o1").await.expect("reserve"),
            Reservation::Reserved
        );
        let started = tokio::time::Instant::now();
        let result = release(&store, 1, 7, "o1").await.expect("withdrawn");
        assert_eq!(result, Release::Withdrawn);
        assert_eq!(store.calls(), 2);
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        assert_eq!(store.remaining(1).await.expect("remaining"), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_withdrawal_that_keeps_failing_gives_up_after_two_tries() {
        // Fails at most five times, so a runaway retry would still end (and be counted).
        let store = FailingRelease::new(5);
        store.load(1, 1, &[]).await.expect("load");
        store.reserve(1, 7, "o1").await.expect("reserve");
        let started = tokio::time::Instant::now();
        assert!(release(&store, 1, 7, "o1").await.is_err());
        assert_eq!(store.calls(), RELEASE_ATTEMPTS);
        // A 503 in a store outage comes within a few seconds, not after a long retry.
        assert_eq!(started.elapsed(), Duration::from_millis(50));
    }
}
