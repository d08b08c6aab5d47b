//! Per-node metrics in the Prometheus text format, on their own port: Buy answers by result,
//! Buys forwarded to their owner, peer health, orders published and awaiting the broker's
//! confirm, and a latency histogram of decided Buys.

use crate::buy::RESULTS;
use crate::cluster::Cluster;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Every `result` word of `POST /queue/{id}/join`, in the order of the counters.
const JOIN_RESULTS: [&str; 7] = [
    "joined",
    "bad_challenge",
    "unauthorized",
    "not_open_yet",
    "ended",
    "no_waiting_room",
    "unavailable",
];

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

#[derive(Default)]
pub struct Metrics {
    buys: [AtomicU64; RESULTS.len()],
    forwarded: AtomicU64,
    /// Cumulative counts per bucket, then +Inf.
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_micros: AtomicU64,
    joins: [AtomicU64; JOIN_RESULTS.len()],
    challenges_issued: AtomicU64,
    /// Publishes sent and not yet confirmed (or failed).
    publishing: AtomicU64,
}

/// One publish awaiting its confirm; counted until dropped (also when the request is dropped
/// mid-publish).
pub struct Publishing<'a>(&'a AtomicU64);

impl Drop for Publishing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A Buy answered by this node with `result`, decided in `elapsed`.
    pub fn buy(&self, result: &str, elapsed: Duration) {
        if let Some(i) = RESULTS.iter().position(|r| *r == result) {
            self.buys[i].fetch_add(1, Ordering::Relaxed);
        }
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// An order being published, until the guard is dropped.
    pub fn publishing(&self) -> Publishing<'_> {
        self.publishing.fetch_add(1, Ordering::Relaxed);
        Publishing(&self.publishing)
    }

    /// Orders published and awaiting the broker's answer right now.
    pub fn publishes_in_flight(&self) -> u64 {
        self.publishing.load(Ordering::Relaxed)
    }

    /// A waiting-room join answered by this node with `result`.
    pub fn join(&self, result: &str) {
        if let Some(i) = JOIN_RESULTS.iter().position(|r| *r == result) {
            self.joins[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A waiting-room challenge handed out.
    pub fn challenge_issued(&self) {
        self.challenges_issued.fetch_add(1, Ordering::Relaxed);
    }

    /// A request sent on to the shopper's owner.
    pub fn forwarded(&self) {
        self.forwarded.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, cluster: &Cluster) -> String {
        let mut out = String::new();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str(
            "# HELP flashsale_buy_requests_total Buy requests answered by this node, by result.\n",
        );
        out.push_str("# TYPE flashsale_buy_requests_total counter\n");
        for (result, count) in RESULTS.iter().zip(&self.buys) {
            let _ = writeln!(
                out,
                "flashsale_buy_requests_total{{result=\"{result}\"}} {}",
                load(count)
            );
        }
        out.push_str("# HELP flashsale_forwarded_requests_total Requests forwarded to the shopper's owner node.\n");
        out.push_str("# TYPE flashsale_forwarded_requests_total counter\n");
        let _ = writeln!(
            out,
            "flashsale_forwarded_requests_total {}",
            load(&self.forwarded)
        );
        out.push_str("# HELP flashsale_publishes_in_flight Orders published and awaiting the broker's confirm.\n");
        out.push_str("# TYPE flashsale_publishes_in_flight gauge\n");
        let _ = writeln!(
            out,
            "flashsale_publishes_in_flight {}",
            load(&self.publishing)
        );
        out.push_str("# HELP flashsale_queue_joins_total Waiting-room joins answered by this node, by result (bad_challenge: refused challenges).\n");
        out.push_str("# TYPE flashsale_queue_joins_total counter\n");
        for (result, count) in JOIN_RESULTS.iter().zip(&self.joins) {
            let _ = writeln!(
                out,
                "flashsale_queue_joins_total{{result=\"{result}\"}} {}",
                load(count)
            );
        }
        out.push_str("# HELP flashsale_queue_challenges_issued_total Waiting-room challenges handed out by this node.\n");
        out.push_str("# TYPE flashsale_queue_challenges_issued_total counter\n");
        let _ = writeln!(
            out,
            "flashsale_queue_challenges_issued_total {}",
            load(&self.challenges_issued)
        );
        out.push_str("# HELP flashsale_peer_up Whether a ring peer answers its health checks.\n");
        out.push_str("# TYPE flashsale_peer_up gauge\n");
        for peer in cluster.peers() {
            let up = u8::from(!cluster.is_down(&peer));
            let _ = writeln!(out, "flashsale_peer_up{{peer=\"{peer}\"}} {up}");
        }
        out.push_str("# HELP flashsale_buy_seconds Time to decide a Buy on this node.\n");
        out.push_str("# TYPE flashsale_buy_seconds histogram\n");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += load(&self.latency[i]);
            let _ = writeln!(
                out,
                "flashsale_buy_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += load(&self.latency[BUCKETS.len()]);
        let _ = writeln!(
            out,
            "flashsale_buy_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let sum = load(&self.latency_sum_micros) as f64 / 1e6;
        let _ = writeln!(out, "flashsale_buy_seconds_sum {sum}");
        let _ = writeln!(out, "flashsale_buy_seconds_count {cumulative}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_results_and_latency() {
        let m = Metrics::default();
        m.buy("queued", Duration::from_micros(300));
        m.buy("queued", Duration::from_millis(3));
        m.buy("too_fast", Duration::from_secs(2));
        m.forwarded();
        m.join("joined");
        m.join("bad_challenge");
        m.join("bad_challenge");
        let text = m.render(&Cluster::alone("127.0.0.1:1"));
        assert!(
            text.contains("flashsale_buy_requests_total{result=\"queued\"} 2"),
            "{text}"
        );
        assert!(text.contains("flashsale_buy_requests_total{result=\"too_fast\"} 1"));
        assert!(text.contains("flashsale_forwarded_requests_total 1"));
        assert!(text.contains("flashsale_queue_joins_total{result=\"bad_challenge\"} 2"));
        assert!(text.contains("flashsale_buy_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("flashsale_buy_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("flashsale_buy_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("flashsale_buy_seconds_count 3"));
    }

    #[test]
    fn publishes_count_while_their_guard_lives() {
        let m = Metrics::default();
        let first = m.publishing();
        let second = m.publishing();
        let cluster = Cluster::alone("127.0.0.1:1");
        assert!(m
            .render(&cluster)
            .contains("flashsale_publishes_in_flight 2"));
        drop(first);
        assert_eq!(m.publishes_in_flight(), 1);
        drop(second);
        assert!(m
            .render(&cluster)
            .contains("flashsale_publishes_in_flight 0"));
    }
}
