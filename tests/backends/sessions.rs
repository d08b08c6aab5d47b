//! Revoked sessions while Redis is cut: a gateway that cannot read them fails closed for
//! signed-in requests only, and recovers by itself.

use crate::util::RealShop;
use flashsale::stack::Parts;
use std::time::{Duration, Instant};

async fn order_status(shop: &RealShop, cookie: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/order/no-such-order", shop.url()))
        .header("Cookie", cookie)
        .send()
        .await
        .expect("order status")
        .status()
        .as_u16()
}

/// Waits until `check` gives `want`, for at most `within`.
async fn until(within: Duration, want: u16, what: &str, mut check: impl AsyncFnMut() -> u16) {
    let deadline = Instant::now() + within;
    loop {
        let got = check().await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {got} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_that_cannot_read_revocations_refuses_signed_in_requests_until_it_can() {
    let shop = RealShop::start(5, Parts::ALL).await;
    let cookie = shop.cookie(41);
    assert_eq!(order_status(&shop, &cookie).await, 404);

    shop.proxies.redis.cut();
    until(Duration::from_secs(8), 503, "fail closed", async || {
        order_status(&shop, &cookie).await
    })
    .await;
    // Pages do not depend on it.
    let home = reqwest::get(format!("{}/", shop.url()))
        .await
        .expect("home");
    assert_eq!(home.status(), 200);

    shop.proxies.redis.restore();
    until(Duration::from_secs(8), 404, "recovery", async || {
        order_status(&shop, &cookie).await
    })
    .await;
    shop.cleanup().await;
}
