//! The worker's health and Prometheus metrics, on its own port (`metrics_listen`):
//! `GET /healthz` answers 200 while the worker runs; `GET /metrics` gives orders drained by
//! result, batch latency, redeliveries, retries, dead letters and the queue's depth.

use crate::drain::DrainStats;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// The Prometheus side of [`DrainStats`], updated as the worker goes.
pub struct WorkerMetrics {
    registry: Registry,
    /// Orders settled, by `result`: confirmed, failed, duplicate, withdrawn.
    pub orders: IntCounterVec,
    pub batch_seconds: Histogram,
    /// Orders delivered again that were already recorded (after a crash or a lost ack).
    pub redelivered: IntCounter,
    /// Orders given back to the queue to be tried again (an outage, a failing order).
    pub retried: IntCounter,
    pub dead_lettered: IntCounter,
    queue_depth: IntGauge,
}

impl std::fmt::Debug for WorkerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerMetrics").finish_non_exhaustive()
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        // The names and options below are constants that Prometheus accepts: creating and
        // registering them cannot fail.
        let registry = Registry::new();
        let orders = IntCounterVec::new(
            Opts::new(
                "flashsale_worker_orders_total",
                "Orders settled by the worker, by result",
            ),
            &["result"],
        )
        .expect("valid metric options");
        let batch_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "flashsale_worker_batch_seconds",
                "Time to claim and record one batch in the database",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )
        .expect("valid metric options");
        let counter =
            |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric options");
        let redelivered = counter(
            "flashsale_worker_redelivered_total",
            "Orders delivered again that were already recorded",
        );
        let retried = counter(
            "flashsale_worker_retried_total",
            "Orders given back to the queue to be tried again",
        );
        let dead_lettered = counter(
            "flashsale_worker_dead_lettered_total",
            "Orders sent to the dead-letter queue",
        );
        let queue_depth = IntGauge::new(
            "flashsale_worker_queue_depth",
            "Orders waiting on the queue (not counting those a worker holds)",
        )
        .expect("valid metric options");
        for metric in [
            Box::new(orders.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(batch_seconds.clone()),
            Box::new(redelivered.clone()),
            Box::new(retried.clone()),
            Box::new(dead_lettered.clone()),
            Box::new(queue_depth.clone()),
        ] {
            registry
                .register(metric)
                .expect("each metric is registered once");
        }
        WorkerMetrics {
            registry,
            orders,
            batch_seconds,
            redelivered,
            retried,
            dead_lettered,
            queue_depth,
        }
    }
}

impl WorkerMetrics {
    /// The text exposition, with the queue's depth if known.
    pub fn render(&self, queue_depth: Option<u64>) -> String {
        match queue_depth {
            Some(depth) => self
                .queue_depth
                .set(i64::try_from(depth).unwrap_or(i64::MAX)),
            None => self.queue_depth.set(-1),
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "could not encode the worker's metrics");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Asks the queue how many orders wait (`None` when it cannot say).
pub type QueueDepth =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<u64>> + Send>> + Send + Sync>;

/// Serves `/healthz` and `/metrics` on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    stats: Arc<DrainStats>,
    depth: QueueDepth,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (mut stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let stats = stats.clone();
        let depth = depth.clone();
        tokio::spawn(async move {
            let mut request = [0u8; 1024];
            let read =
                tokio::time::timeout(Duration::from_secs(2), stream.read(&mut request)).await;
            let Ok(Ok(n)) = read else { return };
            let line = String::from_utf8_lossy(&request[..n]);
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let (status, content_type, body) = match path {
                "/healthz" => ("200 OK", "text/plain", "ok".to_string()),
                "/metrics" => (
                    "200 OK",
                    "text/plain; version=0.0.4",
                    stats.metrics.render(depth().await),
                ),
                _ => ("404 Not Found", "text/plain", "not found".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}
