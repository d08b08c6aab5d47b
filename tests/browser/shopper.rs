//! A shopper in the browser: register, log in, Buy, and the order becomes confirmed; and a
//! sold-out product says so.

use crate::shop::{product, TestShop};
use crate::util::Browser;

/// Registers `user` and logs in through the shop's forms.
pub(crate) async fn register_and_log_in(browser: &Browser, shop: &TestShop, user: &str) {
    browser.goto(&format!("{}/user/register", shop.url)).await;
    browser.fill("#nickName", "Browser Shopper").await;
    browser.fill("#userName", user).await;
    browser.fill("#password", "correct horse").await;
    browser.click("form[action='/user/register'] button").await;
    browser.wait_for_path("/user/login").await;
    browser.fill("#userName", user).await;
    browser.fill("#password", "correct horse").await;
    browser.click("form[action='/user/login'] button").await;
    browser.wait_for_path("/").await;
}

#[tokio::test]
async fn a_shopper_buys_and_sees_the_order_confirmed() {
    let shop = TestShop::start(&[product("Pocket Phone", 3)], 10).await;
    let id = shop.product_ids[0];
    let browser = Browser::start().await;
    register_and_log_in(&browser, &shop, "browser_ann").await;

    // From the catalogue to the product page.
    browser
        .click(&format!(
            "#catalogue [data-product-id='{id}'] .card-title a"
        ))
        .await;
    browser.wait_for_path(&format!("/product/{id}.html")).await;
    browser
        .wait_for_text("#stock-remaining", "the stock", |t| t == "3 left")
        .await;

    browser.click("#buy").await;
    let result = browser
        .wait_for_text("#buy-result", "the confirmation", |t| {
            t.starts_with("Confirmed!")
        })
        .await;
    // Bought: the box says so and offers no second Buy.
    browser
        .wait_for_text("#buy-state", "the order", |t| t.starts_with("It's yours!"))
        .await;
    assert!(!browser.is_displayed("#buy").await);
    browser
        .wait_for_text("#stock-remaining", "the new stock", |t| t == "2 left")
        .await;
    browser.screenshot("shop-bought").await;

    // The order link shows the order, confirmed.
    let order_id = result
        .split_whitespace()
        .last()
        .expect("an order id in the message")
        .to_string();
    browser.click("#buy-result a").await;
    browser
        .wait_for_text("#order-status", "the confirmed status", |t| {
            t.to_lowercase().contains("confirmed")
        })
        .await;
    assert_eq!(browser.text("#order-id").await, order_id);
    browser.screenshot("shop-order-confirmed").await;
    let orders = shop.wait_for_confirmed(id, 1).await;
    assert_eq!(orders[0].order_id, order_id);

    browser.close().await;
    shop.stack.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_sold_out_product_tells_the_shopper() {
    // One unit, and someone else gets it first.
    let shop = TestShop::start(&[product("Last Camera", 1)], 2).await;
    let id = shop.product_ids[0];
    let rival = shop.shopper("rival").await;
    assert_eq!(shop.buy(&rival, id).await.0, 202);

    let browser = Browser::start().await;
    register_and_log_in(&browser, &shop, "browser_bob").await;
    browser
        .goto(&format!("{}/product/{id}.html", shop.url))
        .await;
    // The page was rendered with 1 left; its live stock line catches up.
    browser
        .wait_for_text("#stock-remaining", "sold out", |t| t == "Sold out")
        .await;
    // No Buy button to press: the box says sold out.
    browser
        .wait_for_text("#buy-state", "sold out", |t| t.starts_with("All gone."))
        .await;
    assert!(!browser.is_displayed("#buy").await);
    browser.screenshot("shop-sold-out").await;
    assert_eq!(
        shop.wait_for_confirmed(id, 1).await.len(),
        1,
        "only the rival's"
    );

    browser.close().await;
    shop.stack.shutdown().await.expect("shutdown");
}
