//! `GET /orders` on the real services: orders still on RabbitMQ (no worker yet) are listed as
//! queued beside the ones MariaDB holds, with their product's name; then, once a worker has
//! drained them, the same orders read confirmed.

use crate::util::RealShop;
use flashsale::stack::{Parts, Stack};
use flashsale_core::domain::NewProduct;
use std::time::Duration;

const GATEWAY_ONLY: Parts = Parts {
    gateway: true,
    worker: false,
};

fn named(name: &str, price_cents: i64) -> NewProduct {
    NewProduct {
        name: name.into(),
        price_cents,
        ..crate::util::product(5)
    }
}

#[tokio::test]
async fn queued_orders_are_listed_before_the_worker_records_them() {
    let products = [named("Field Watch", 12_900), named("Camp Mug", 1_400)];
    let mut shop = RealShop::start_products(&products, GATEWAY_ONLY, |c| c.cooldown_secs = 0).await;
    let client = reqwest::Client::new();
    let uid = 4242;
    let mut ids = Vec::new();
    for pid in shop.product_ids.clone() {
        let r = client
            .post(format!("{}/getOne?productID={pid}", shop.url()))
            .header("Cookie", shop.cookie(uid))
            .send()
            .await
            .expect("buy");
        assert_eq!(r.status(), 202);
        let body: serde_json::Value = r.json().await.expect("json");
        ids.push(body["orderId"].as_str().expect("id").to_owned());
    }
    let list = |cookie: String| {
        let client = client.clone();
        let url = format!("{}/orders", shop.url());
        async move {
            let r = client
                .get(url)
                .header("Cookie", cookie)
                .send()
                .await
                .expect("orders");
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.expect("json")
        }
    };

    // Nothing is in the database yet: the list comes from the gateway's own record.
    assert!(shop.db.find_order(&ids[0]).await.expect("lookup").is_none());
    let body = list(shop.cookie(uid)).await;
    let orders = body["orders"].as_array().expect("orders");
    let listed: Vec<&str> = orders
        .iter()
        .map(|o| o["orderId"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, [ids[1].as_str(), ids[0].as_str()], "newest first");
    assert_eq!(orders[0]["productName"], "Camp Mug");
    assert_eq!(orders[0]["priceCents"], 1_400);
    assert!(orders.iter().all(|o| o["status"] == "queued"), "{body}");
    assert_eq!(
        list(shop.cookie(uid + 1)).await["orders"],
        serde_json::json!([]),
        "not another shopper's"
    );

    // A worker drains the queue into MariaDB: the same orders, confirmed, listed once each.
    let worker = Stack::start_parts(
        &shop.config,
        Parts {
            gateway: false,
            worker: true,
        },
    )
    .await
    .expect("a worker starts");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body = list(shop.cookie(uid)).await;
        let orders = body["orders"].as_array().expect("orders").clone();
        assert_eq!(orders.len(), 2, "each order once: {body}");
        if orders.iter().all(|o| o["status"] == "confirmed") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never confirmed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.shutdown().await.expect("worker stops");
    if let Some(stack) = shop.stack.take() {
        stack.shutdown().await.expect("shutdown");
    }
}
