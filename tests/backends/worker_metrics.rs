//! A worker process's health and Prometheus metrics on `metrics_listen`.

use crate::util::RealShop;
use flashsale::stack::{Parts, Stack};
use std::collections::HashSet;
use std::time::Duration;

/// The value of the first metric line starting with `start`.
fn metric(text: &str, start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {start} in:\n{text}"))
}

/// Regression (issue 14, finding 11): operators could not watch the workers: no health check,
/// no metrics. Now a worker that drained orders says so on `metrics_listen`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding_11_a_worker_that_drained_orders_shows_it_in_its_metrics() {
    let shop = RealShop::start(
        10,
        Parts {
            gateway: true,
            worker: false,
        },
    )
    .await;
    let mut config = shop.config.clone();
    config.metrics_listen = Some("127.0.0.1:0".into());
    let worker = Stack::start_parts(
        &config,
        Parts {
            gateway: false,
            worker: true,
        },
    )
    .await
    .expect("the worker starts");
    let metrics_addr = worker.metrics_addr.clone().expect("the worker's metrics");

    let health = reqwest::get(format!("http://{metrics_addr}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);

    let client = reqwest::Client::new();
    let shoppers: HashSet<i64> = (1..=3).collect();
    for &uid in &shoppers {
        assert_eq!(shop.buy(&client, uid).await.0, 202);
    }
    shop.wait_for_orders(&shoppers, Duration::from_secs(20))
        .await;

    let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert_eq!(
        metric(&text, "flashsale_worker_orders_total{result=\"confirmed\"}"),
        3.0
    );
    assert!(metric(&text, "flashsale_worker_batch_seconds_count") >= 1.0);
    assert_eq!(metric(&text, "flashsale_worker_dead_lettered_total"), 0.0);
    assert_eq!(metric(&text, "flashsale_worker_redelivered_total"), 0.0);
    assert_eq!(metric(&text, "flashsale_worker_queue_depth"), 0.0);

    worker.shutdown().await.expect("worker stops");
    shop.cleanup().await;
}
