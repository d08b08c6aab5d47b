//! `GET /orders`: a shopper's own orders, newest first, page by page; and the order page's
//! answer naming the product.

use crate::util::{product, TestShop};
use flashsale_core::domain::NewProduct;
use serde_json::Value;
use std::collections::HashSet;

async fn orders_page(
    shop: &TestShop,
    client: &reqwest::Client,
    after: Option<&str>,
) -> (u16, Value) {
    let mut url = format!("{}/orders", shop.url);
    if let Some(after) = after {
        url = format!("{url}?after={after}");
    }
    let r = client.get(url).send().await.expect("GET /orders");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON answer"))
}

fn priced(name: &str, price_cents: i64) -> NewProduct {
    NewProduct {
        price_cents,
        ..product(name, 5)
    }
}

#[tokio::test]
async fn a_shopper_sees_only_their_own_orders_newest_first_with_names_and_prices() {
    let products = [
        priced("Phone", 19_900),
        priced("Watch", 12_900),
        priced("Mug", 1_400),
    ];
    let shop = TestShop::start(&products, 0).await;
    let [phone, watch, mug] = [
        shop.product_ids[0],
        shop.product_ids[1],
        shop.product_ids[2],
    ];

    let (status, body) = orders_page(&shop, &shop.browser(), None).await;
    assert_eq!(status, 401, "not signed in: {body}");

    let ann = shop.shopper("ann").await;
    let bob = shop.shopper("bob").await;
    let (status, body) = orders_page(&shop, &ann, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"orders": [], "next": null}),
        "no orders yet"
    );

    let mut ann_ids = Vec::new();
    for pid in [phone, watch] {
        let (status, body) = shop.buy(&ann, pid).await;
        assert_eq!(status, 202, "{body}");
        ann_ids.push(body["orderId"].as_str().expect("order id").to_owned());
    }
    let (status, body) = shop.buy(&bob, mug).await;
    assert_eq!(status, 202, "{body}");
    let bobs = body["orderId"].as_str().expect("order id").to_owned();

    // Queued or already confirmed, every accepted order is listed at once.
    let (status, body) = orders_page(&shop, &ann, None).await;
    assert_eq!(status, 200, "{body}");
    let orders = body["orders"].as_array().expect("orders");
    let ids: Vec<&str> = orders
        .iter()
        .map(|o| o["orderId"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [ann_ids[1].as_str(), ann_ids[0].as_str()],
        "newest first, only Ann's"
    );
    assert!(!ids.contains(&bobs.as_str()));
    assert_eq!(orders[0]["productId"], watch);
    assert_eq!(orders[0]["productName"], "Watch");
    assert_eq!(orders[0]["priceCents"], 12_900);
    assert_eq!(orders[1]["productName"], "Phone");
    assert_eq!(orders[1]["priceCents"], 19_900);
    assert!(
        orders[0]["createdAt"].as_i64().expect("a time")
            >= orders[1]["createdAt"].as_i64().expect("a time")
    );
    for o in orders {
        assert!(
            ["queued", "confirmed"].contains(&o["status"].as_str().expect("status")),
            "{o}"
        );
    }
    assert_eq!(body["next"], Value::Null);

    // Once the worker has recorded them, the same list, confirmed.
    shop.wait_for_confirmed(phone, 1).await;
    shop.wait_for_confirmed(watch, 1).await;
    let (_, body) = orders_page(&shop, &ann, None).await;
    let statuses: Vec<&str> = body["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["confirmed", "confirmed"]);

    // Bob sees his one order only.
    let (_, body) = orders_page(&shop, &bob, None).await;
    let ids: Vec<&str> = body["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["orderId"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [bobs.as_str()]);

    // The order page's answer names the product too; another shopper's order is not found.
    let r = ann
        .get(format!("{}/order/{}", shop.url, ann_ids[1]))
        .send()
        .await
        .expect("order");
    let order: Value = r.json().await.expect("json");
    assert_eq!(order["productName"], "Watch");
    assert_eq!(order["priceCents"], 12_900);
    assert!(order["createdAt"].as_i64().is_some(), "{order}");
    let r = ann
        .get(format!("{}/order/{bobs}", shop.url))
        .send()
        .await
        .expect("order");
    assert_eq!(r.status(), 404);

    shop.stack.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn orders_come_a_page_at_a_time_without_gaps_or_repeats() {
    const N: usize = 45;
    let products: Vec<NewProduct> = (0..N).map(|i| product(&format!("Item {i}"), 3)).collect();
    let shop = TestShop::start(&products, 0).await;
    let ann = shop.shopper("ann").await;
    let mut bought = Vec::new();
    for pid in &shop.product_ids {
        let (status, body) = shop.buy(&ann, *pid).await;
        assert_eq!(status, 202, "{body}");
        bought.push(body["orderId"].as_str().expect("id").to_owned());
    }
    // Some still queued, some recorded: the pages must not care.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let (status, body) = orders_page(&shop, &ann, after.as_deref()).await;
        assert_eq!(status, 200, "{body}");
        let orders = body["orders"].as_array().expect("orders");
        assert!(orders.len() <= 20, "a page holds at most 20");
        seen.extend(
            orders
                .iter()
                .map(|o| o["orderId"].as_str().expect("id").to_owned()),
        );
        pages += 1;
        match body["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "paging never ends");
    }
    assert_eq!(pages, 3, "45 orders in pages of 20");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no order twice");
    bought.reverse();
    assert_eq!(seen, bought, "every order, newest first");

    // A made-up cursor is a bad request, not a crash or someone else's page.
    for bad in [
        "x",
        "123",
        "abc.0123456789abcdef0123456789abcdef",
        "1.NOT-AN-ID",
    ] {
        let (status, _) = orders_page(&shop, &ann, Some(bad)).await;
        assert_eq!(status, 400, "{bad}");
    }
    shop.stack.shutdown().await.expect("shutdown");
}
