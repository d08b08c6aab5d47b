use crate::util::{product, TestShop};
use base64::Engine;
use flashsale_core::domain::{now_unix, NewProduct};
use std::time::Duration;

#[tokio::test]
async fn without_a_cookie_or_with_a_forged_one_is_401() {
    let shop = TestShop::start(&[product("Phone", 5)], 0).await;
    let pid = shop.product_ids[0];
    let url = format!("{}/getOne?productID={pid}", shop.url);
    let client = reqwest::Client::new();
    let valid = shop.cookie_header(7);
    let token = valid.split("sign=").nth(1).expect("sign").to_string();

    let mut flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&token)
        .expect("base64url");
    flipped[20] ^= 1;
    let flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(flipped);
    let other_secret =
        flashsale_core::SignCodec::new(1, b"someone else's secret").issue(7, now_unix() + 60);
    let expired = flashsale_core::SignCodec::new(
        1,
        shop.config
            .cookie_secret
            .as_deref()
            .expect("secret")
            .as_bytes(),
    )
    .issue(7, now_unix() - 1);

    for cookie in [
        None,
        Some("uid=7".to_string()),
        Some(format!("sign={token}")),
        Some(format!("uid=8; sign={token}")),
        Some(format!("uid=7; sign={flipped}")),
        Some(format!("uid=7; sign={other_secret}")),
        Some(format!("uid=7; sign={expired}")),
        Some(format!("uid=7; sign={}", &token[..token.len() - 4])),
        Some("uid=7; sign=%00%2e%2e".to_string()),
        Some(format!("uid=7; sign={}", "A".repeat(10_000))),
    ] {
        let mut req = client.post(&url);
        if let Some(c) = &cookie {
            req = req.header("Cookie", c);
        }
        let r = req.send().await.expect("request");
        assert_eq!(r.status(), 401, "cookie {cookie:?}");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["result"], "unauthorized");
    }
    // The genuine cookie works, and none of the forgeries reserved anything.
    let r = client
        .post(&url)
        .header("Cookie", valid)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 202);
    shop.wait_for_confirmed(pid, 1).await;
    assert_eq!(
        shop.db()
            .orders_of_product(pid)
            .await
            .expect("orders")
            .len(),
        1
    );
}

#[tokio::test]
async fn second_buy_of_the_same_product_is_409() {
    let shop = TestShop::start(&[product("Phone", 5)], 0).await;
    let pid = shop.product_ids[0];
    let fay = shop.shopper("fay").await;
    assert_eq!(shop.buy(&fay, pid).await.0, 202);
    let (status, body) = shop.buy(&fay, pid).await;
    assert_eq!(status, 409);
    assert_eq!(body["result"], "already_bought");
}

#[tokio::test]
async fn buy_within_the_cooldown_is_429_with_retry_after() {
    let shop = TestShop::start(&[product("Phone", 5), product("Watch", 5)], 10).await;
    let gus = shop.shopper("gus").await;
    assert_eq!(shop.buy(&gus, shop.product_ids[0]).await.0, 202);
    let r = gus
        .post(format!(
            "{}/getOne?productID={}",
            shop.url, shop.product_ids[1]
        ))
        .send()
        .await
        .expect("buy");
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=10).contains(&retry), "Retry-After {retry}");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["result"], "too_fast");
    assert_eq!(body["retryAfter"], retry);
}

/// The cooldown runs on the gateway's clock: once it has moved past the cooldown, the
/// shopper's next Buy is decided again (here without waiting ten seconds).
#[tokio::test]
async fn buy_once_the_cooldown_has_run_out_is_decided_again() {
    let shop = TestShop::start(&[product("Phone", 5), product("Watch", 5)], 10).await;
    let [phone, watch] = [shop.product_ids[0], shop.product_ids[1]];
    let kim = shop.shopper("kim").await;
    assert_eq!(shop.buy(&kim, phone).await.0, 202);
    assert_eq!(shop.buy(&kim, watch).await.0, 429);
    shop.clock.advance(Duration::from_secs(5));
    assert_eq!(shop.buy(&kim, watch).await.0, 429, "half of it is left");
    shop.clock.advance(Duration::from_secs(5));
    assert_eq!(shop.buy(&kim, watch).await.0, 202);
}

#[tokio::test]
async fn sold_out_unknown_and_closed_products() {
    let now = now_unix();
    let later = NewProduct {
        sale_start: Some(now + 3600),
        ..product("Later", 5)
    };
    let over = NewProduct {
        sale_end: Some(now - 1),
        ..product("Over", 5)
    };
    let shop = TestShop::start(&[product("One left", 1), later, over], 0).await;
    let [one, later, over] = [
        shop.product_ids[0],
        shop.product_ids[1],
        shop.product_ids[2],
    ];
    let a = shop.shopper("hal").await;
    let b = shop.shopper("ida").await;
    assert_eq!(shop.buy(&a, one).await.0, 202);
    let (status, body) = shop.buy(&b, one).await;
    assert_eq!((status, body["result"].as_str()), (410, Some("sold_out")));
    let (status, body) = shop.buy(&b, later).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (403, Some("not_on_sale"))
    );
    let (status, body) = shop.buy(&b, over).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (403, Some("not_on_sale"))
    );
    let (status, body) = shop.buy(&b, 999_999).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (404, Some("no_such_product"))
    );

    let stock: serde_json::Value = reqwest::get(format!("{}/stock/{one}", shop.url))
        .await
        .expect("stock")
        .json()
        .await
        .expect("json");
    assert_eq!(stock["remaining"], 0);
    assert_eq!(
        reqwest::get(format!("{}/stock/999999", shop.url))
            .await
            .expect("stock")
            .status(),
        404
    );
}

#[tokio::test]
async fn bad_product_ids_are_400_and_get_is_405() {
    let shop = TestShop::start(&[product("Phone", 5)], 0).await;
    let client = reqwest::Client::new();
    let cookie = shop.cookie_header(3);
    for query in [
        "",
        "?productID=",
        "?productID=abc",
        "?productID=-1",
        "?productID=1%27%20OR%201=1",
        "?productID=99999999999999999999",
        "?id=1",
    ] {
        let r = client
            .post(format!("{}/getOne{query}", shop.url))
            .header("Cookie", &cookie)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 400, "{query}");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["result"], "bad_request");
    }
    let r = client
        .get(format!("{}/getOne?productID=1", shop.url))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
}

#[tokio::test]
async fn an_order_is_visible_to_its_shopper_only() {
    let shop = TestShop::start(&[product("Phone", 5)], 0).await;
    let pid = shop.product_ids[0];
    let jo = shop.shopper("jo").await;
    let kim = shop.shopper("kim").await;
    let (_, body) = shop.buy(&jo, pid).await;
    let order_id = body["orderId"].as_str().expect("order id").to_string();

    // Visible at once (queued or already confirmed) to its shopper...
    let r = jo
        .get(format!("{}/order/{order_id}", shop.url))
        .send()
        .await
        .expect("status");
    assert_eq!(r.status(), 200);
    let status: serde_json::Value = r.json().await.expect("json");
    assert!(
        ["queued", "confirmed"].contains(&status["status"].as_str().unwrap_or("")),
        "{status}"
    );
    // ...and never to anyone else, before or after the worker wrote it.
    shop.wait_for_confirmed(pid, 1).await;
    for id in [
        order_id.as_str(),
        "nonexistent",
        "../../etc/passwd",
        "00000000000000000000000000000000",
    ] {
        let r = kim
            .get(format!("{}/order/{id}", shop.url))
            .send()
            .await
            .expect("status");
        assert_eq!(r.status(), 404, "{id}");
    }
    let r = reqwest::get(format!("{}/order/{order_id}", shop.url))
        .await
        .expect("status");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn healthz_answers() {
    let shop = TestShop::start(&[], 0).await;
    let r = reqwest::get(format!("{}/healthz", shop.url))
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
}
