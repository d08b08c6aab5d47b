//! Many shoppers clicking at once: exactly `stock` orders, none twice, every other answer a
//! refusal that says why.

use crate::util::{product, TestShop};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const SHOPPERS: i64 = 500;
const CLICKS_EACH: usize = 3;
const STOCK: i64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storm_sells_exactly_the_stock() {
    let shop = Arc::new(TestShop::start(&[product("Hot item", STOCK)], 10).await);
    let pid = shop.product_ids[0];
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    // Every click of every shopper is in flight at once.
    let start = Arc::new(tokio::sync::Barrier::new((SHOPPERS as usize) * CLICKS_EACH));
    let mut clicks = Vec::new();
    for uid in 1..=SHOPPERS {
        let cookie = shop.cookie_header(uid);
        for _ in 0..CLICKS_EACH {
            let (client, shop, cookie, start) =
                (client.clone(), shop.clone(), cookie.clone(), start.clone());
            clicks.push(tokio::spawn(async move {
                start.wait().await;
                let r = client
                    .post(format!("{}/getOne?productID={pid}", shop.url))
                    .header("Cookie", cookie)
                    .send()
                    .await
                    .expect("the gateway answers every click");
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.expect("JSON answer");
                (uid, status, body)
            }));
        }
    }

    let mut results: HashMap<String, usize> = HashMap::new();
    let mut winners = HashSet::new();
    let mut order_ids = HashSet::new();
    for click in clicks {
        let (uid, status, body) = click.await.expect("click task");
        let result = body["result"].as_str().unwrap_or("?").to_string();
        let expected_status = match result.as_str() {
            "queued" => 202,
            "sold_out" => 410,
            "already_bought" => 409,
            "too_fast" => 429,
            other => panic!("unexpected answer {other} ({status}) in a storm: {body}"),
        };
        assert_eq!(status, expected_status, "{body}");
        if result == "queued" {
            assert!(winners.insert(uid), "shopper {uid} got two units");
            assert!(order_ids.insert(body["orderId"].as_str().expect("id").to_string()));
        }
        *results.entry(result).or_default() += 1;
    }
    assert_eq!(winners.len() as i64, STOCK, "answers: {results:?}");

    let orders = shop.wait_for_confirmed(pid, STOCK as usize).await;
    assert_eq!(orders.len() as i64, STOCK, "orders in the database");
    let buyers: HashSet<i64> = orders.iter().map(|o| o.user_id).collect();
    assert_eq!(
        buyers, winners,
        "the database's buyers are the shoppers who got 202"
    );
    let stored: HashSet<String> = orders.iter().map(|o| o.order_id.clone()).collect();
    assert_eq!(stored, order_ids);
    let product = shop
        .db()
        .get_product(pid)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(product.stock, 0, "database stock");
    let remaining: serde_json::Value = reqwest::get(format!("{}/stock/{pid}", shop.url))
        .await
        .expect("stock")
        .json()
        .await
        .expect("json");
    assert_eq!(remaining["remaining"], 0);
    eprintln!("storm answers: {results:?}");
}
