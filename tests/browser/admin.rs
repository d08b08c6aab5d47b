//! An admin logs in with the password the first run printed, adds a product, republishes,
//! and the product page the gateway serves shows it.

use crate::shop::{product, TestShop};
use crate::util::Browser;
use flashsale::stack::start_admin;

#[tokio::test]
async fn an_admin_adds_a_product_republishes_and_the_shop_shows_it() {
    let shop = TestShop::start(&[product("Pocket Phone", 5)], 10).await;
    let config = flashsale_core::Config {
        admin_listen: "127.0.0.1:0".into(),
        ..shop.config.clone()
    };
    let admin = start_admin(
        &config,
        shop.db().clone(),
        shop.stack.stock.clone(),
        shop.stack.room.clone(),
        shop.stack.after_publish(),
    )
    .await
    .expect("the admin starts");
    let password = admin
        .first_run
        .password
        .clone()
        .expect("a first run generates a password");
    let browser = Browser::start().await;

    // Every admin page sends a stranger to the login form.
    browser.goto(&format!("{}/products", admin.url)).await;
    browser.wait_for_path("/login").await;
    browser.fill("#user", "admin").await;
    browser.fill("#password", "not the password").await;
    browser.click("#login").await;
    browser
        .wait_for_text("#login-error", "the login error", |t| {
            t == "Wrong user name or password."
        })
        .await;
    browser.fill("#user", "admin").await;
    browser.fill("#password", &password).await;
    browser.click("#login").await;
    browser.wait_for_path("/").await;
    browser.find("#chart").await;
    browser.screenshot("admin-dashboard").await;

    // Products -> Add: a mistake first, then the right values.
    browser.click("a[href='/products']").await;
    browser.click("#add-product").await;
    let name = "Trail Runner <Limited>";
    browser.fill("#name", name).await;
    browser.fill("#stock", "-2").await;
    browser.fill("#price", "59.90").await;
    browser.fill("#image", "/static/img/sneakers.svg").await;
    browser
        .fill("#description", "Light, fast, and gone in a minute.")
        .await;
    browser.click("#save").await;
    browser
        .wait_for_text("#error-stock", "the stock error", |t| {
            t == "stock cannot be negative"
        })
        .await;
    browser.screenshot("admin-product-form-errors").await;
    browser.fill("#stock", "25").await;
    browser.click("#save").await;
    let flash = browser
        .wait_for_text("#flash", "the saved message", |t| t.contains("added"))
        .await;
    let id: i64 = flash
        .trim_start_matches("Product ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no id in {flash:?}"));
    let row = browser
        .text(&format!("#products tr[data-id='{id}'] .name"))
        .await;
    assert_eq!(row, name, "the name is shown as typed, not as HTML");
    browser.screenshot("admin-products").await;

    // Republish: the new page is listed among what changed.
    browser.click("a[href='/publish']").await;
    browser.click("#publish").await;
    let changed = browser
        .wait_for_text("#changed", "the changed pages", |t| !t.is_empty())
        .await;
    assert!(
        changed.lines().any(|l| l == format!("product/{id}.html")),
        "{changed}"
    );
    assert!(changed.lines().any(|l| l == "index.html"), "{changed}");
    browser.screenshot("admin-republished").await;

    // In one process Republish answers once the gateway serves the new page: no waiting.
    assert_eq!(
        browser.text("#live").await,
        "The shop serves the new pages now."
    );
    browser
        .goto(&format!("{}/product/{id}.html", shop.url))
        .await;
    assert_eq!(browser.text("h1").await, name);
    assert_eq!(browser.text(".price").await, "$59.90");
    browser
        .wait_for_text("#stock-remaining", "the stock line", |t| t == "25 left")
        .await;
    browser.screenshot("shop-new-product").await;
    browser.goto(&format!("{}/", shop.url)).await;
    let catalogue = browser.text("#catalogue").await;
    assert!(catalogue.contains(name), "{catalogue}");

    // The dashboard follows the sale live: a shopper buys while it is open.
    browser.goto(&format!("{}/", admin.url)).await;
    let confirmed = format!("#stats tr[data-id='{id}'] td[data-k='confirmed']");
    assert_eq!(browser.text(&confirmed).await, "0");
    let ann = shop.shopper("ann").await;
    // The republish also refreshed the gateway's catalogue: the new product sells at once.
    assert_eq!(shop.buy(&ann, id).await.0, 202);
    browser
        .wait_for_text(&confirmed, "the confirmed order, without a reload", |t| {
            t == "1"
        })
        .await;
    let remaining = format!("#stats tr[data-id='{id}'] td[data-k='remaining']");
    assert_eq!(browser.text(&remaining).await, "24");
    assert_eq!(browser.text("#last-minute").await, "1");
    browser.screenshot("admin-dashboard-live").await;

    // The order, with the shopper's and the product's names.
    browser.click("a[href='/orders']").await;
    let orders = browser.text("#orders").await;
    assert!(orders.contains("ann") && orders.contains(name), "{orders}");
    assert!(orders.contains("confirmed"), "{orders}");
    browser.screenshot("admin-orders").await;

    browser.close().await;
    admin.stop().await;
    shop.stack.shutdown().await.expect("shutdown");
}
