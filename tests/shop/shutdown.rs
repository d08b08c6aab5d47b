//! Stopping the shop (Ctrl-C in `flashsale up`) writes every accepted order before exiting.

use crate::util::{product, TestShop};
use flashsale_core::Db;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_accepted_order_is_in_the_database_after_shutdown() {
    let shop = TestShop::start(&[product("Phone", 1_000)], 10).await;
    let pid = shop.product_ids[0];
    let client = reqwest::Client::new();
    let mut accepted = Vec::new();
    let clicks: Vec<_> = (1..=300)
        .map(|uid| {
            let req = client
                .post(format!("{}/getOne?productID={pid}", shop.url))
                .header("Cookie", shop.cookie_header(uid));
            tokio::spawn(async move { req.send().await.ok().map(|r| r.status().as_u16()) })
        })
        .collect();
    for click in clicks {
        if click.await.expect("task") == Some(202) {
            accepted.push(());
        }
    }
    assert_eq!(accepted.len(), 300);

    let url = shop.config.database_url.clone();
    let crate::util::TestShop { stack, .. } = shop;
    stack.shutdown().await.expect("clean shutdown");

    let db = Db::connect(&url).await.expect("reconnect");
    let orders = db.orders_of_product(pid).await.expect("orders");
    assert_eq!(
        orders.len(),
        accepted.len(),
        "an accepted order was lost at shutdown"
    );
    assert_eq!(
        db.get_product(pid)
            .await
            .expect("get")
            .expect("exists")
            .stock,
        700
    );
}
