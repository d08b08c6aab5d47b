//! The shop as a shopper meets it, at desktop and phone sizes, light and dark: the header
//! that knows who is signed in, the account forms and their errors, every state of a
//! product's Buy box (on sale, starts in, cooling down, already yours, sold out), the
//! catalogue's badges and My orders. Every page passes axe-core (no serious or critical
//! violation: contrast, labels, names) and is saved as a screenshot.

use crate::axe::assert_accessible;
use crate::shop::{product, TestShop};
use crate::util::{Browser, DESKTOP, PHONE};
use flashsale_core::domain::{now_unix, NewProduct};

/// Checks the page with axe-core and saves it, at both sizes.
async fn check_page(browser: &Browser, name: &str) {
    for (size, label) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
        browser.resize(size).await;
        assert_accessible(&browser.client, &format!("{name} ({label})")).await;
        assert!(
            !browser.wider_than_window().await,
            "{name}: nothing is wider than the window"
        );
        browser.screenshot(&format!("store-{name}-{label}")).await;
    }
    browser.resize(DESKTOP).await;
}

fn priced(name: &str, stock: i64, price_cents: i64, image: &str) -> NewProduct {
    NewProduct {
        price_cents,
        image: format!("/static/img/{image}.svg"),
        description: format!("{name}: a test product with a description of a sentence or two."),
        ..product(name, stock)
    }
}

#[tokio::test]
async fn the_header_knows_the_shopper_and_login_comes_back_to_the_product() {
    let shop = TestShop::start(&[priced("Field Watch", 5, 12_900, "watch")], 10).await;
    let id = shop.product_ids[0];
    let browser = Browser::start().await;

    // Signed out: Log in and Register, no My orders.
    browser
        .goto(&format!("{}/product/{id}.html", shop.url))
        .await;
    assert!(browser.shown(".nav-links a[href^='/user/login']").await);
    assert!(browser.shown(".nav-links a[href^='/user/register']").await);
    assert!(!browser.shown(".nav-links a[href='/orders.html']").await);
    assert_eq!(browser.text(".price-large").await, "$129.00");
    check_page(&browser, "header-signed-out").await;

    // Register from the product page, then log in: back on the product page.
    browser.click(".nav-links a[href^='/user/register']").await;
    browser.wait_for_path("/user/register").await;
    browser.fill("#nickName", "Ada Lovelace").await;
    browser.fill("#userName", "ada").await;
    browser.fill("#password", "correct horse").await;
    browser.click("form[action='/user/register'] button").await;
    browser.wait_for_path("/user/login").await;
    browser
        .wait_for_text("#account-created", "the account made", |t| {
            t.starts_with("Account created")
        })
        .await;
    check_page(&browser, "login-account-created").await;
    browser.fill("#userName", "ada").await;
    browser.fill("#password", "correct horse").await;
    browser.click("form[action='/user/login'] button").await;
    browser.wait_for_path(&format!("/product/{id}.html")).await;

    // Signed in: the name, My orders, Log out.
    browser
        .wait_for_text("#shopper-name", "the shopper's name", |t| {
            t == "Ada Lovelace"
        })
        .await;
    assert!(browser.shown(".nav-links a[href='/orders.html']").await);
    assert!(
        browser
            .shown(".nav-links form[action='/user/logout'] button")
            .await
    );
    assert!(!browser.shown(".nav-links a[href^='/user/login']").await);
    check_page(&browser, "header-signed-in").await;

    // Log out: the header says so at once.
    browser
        .click(".nav-links form[action='/user/logout'] button")
        .await;
    browser.wait_for_path("/").await;
    assert!(browser.shown(".nav-links a[href^='/user/login']").await);
    assert!(!browser.shown(".nav-links a[href='/orders.html']").await);

    browser.close().await;
    shop.stack.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn form_errors_sit_next_to_their_field_and_keep_what_was_typed() {
    let shop = TestShop::start(&[], 10).await;
    shop.shopper("taken").await;
    let browser = Browser::start().await;

    // Caught before sending: an empty nickname and a short password.
    browser.goto(&format!("{}/user/register", shop.url)).await;
    browser.fill("#userName", "newbie").await;
    browser.fill("#password", "short").await;
    browser.click("form[action='/user/register'] button").await;
    browser
        .wait_for_text("#nickName-error", "the nickname's error", |t| {
            t == "Nickname must not be empty."
        })
        .await;
    assert_eq!(
        browser.text("#password-error").await,
        "Password must be at least 8 characters."
    );
    check_page(&browser, "register-checked").await;

    // Refused by the shop: the user name is taken.
    browser.fill("#nickName", "Second Taken").await;
    browser.fill("#userName", "taken").await;
    browser.fill("#password", "correct horse").await;
    browser.click("form[action='/user/register'] button").await;
    browser
        .wait_for_text("#userName-error", "the taken name", |t| {
            t.contains("already taken")
        })
        .await;
    assert_eq!(
        browser.prop("#nickName", "value").await.as_deref(),
        Some("Second Taken"),
        "the form is kept"
    );
    assert_eq!(
        browser.attr("#userName", "aria-invalid").await.as_deref(),
        Some("true")
    );
    check_page(&browser, "register-name-taken").await;

    // A wrong password: at the password, the user name kept.
    browser.goto(&format!("{}/user/login", shop.url)).await;
    browser.fill("#userName", "taken").await;
    browser.fill("#password", "not the password").await;
    browser.click("form[action='/user/login'] button").await;
    browser
        .wait_for_text("#password-error", "the refusal", |t| {
            t == "Wrong user name or password."
        })
        .await;
    assert_eq!(
        browser.prop("#userName", "value").await.as_deref(),
        Some("taken")
    );
    check_page(&browser, "login-wrong-password").await;

    browser.close().await;
    shop.stack.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn each_product_state_is_right_on_the_page_and_after_a_reload() {
    let now = now_unix();
    let products = [
        priced("Pocket Phone", 5, 19_900, "phone"),
        priced("Instant Camera", 0, 7_900, "camera"),
        NewProduct {
            sale_start: Some(now + 3600 * 3),
            ..priced("Mini Drone", 5, 17_900, "drone")
        },
        NewProduct {
            sale_start: Some(now + 25),
            ..priced("Desk Lamp", 5, 4_500, "lamp")
        },
        priced("Camp Mug", 5, 1_400, "mug"),
    ];
    let shop = TestShop::start(&products, 10).await;
    let [phone, camera, drone, lamp, mug] = [0, 1, 2, 3, 4].map(|i| shop.product_ids[i]);
    let page = |id: i64| format!("{}/product/{id}.html", shop.url);
    let browser = Browser::start().await;

    // The catalogue: a sold-out badge, a start time, a live countdown for the one soon.
    browser.goto(&format!("{}/", shop.url)).await;
    let badge = |id: i64| format!("#catalogue [data-product-id='{id}'] .badge");
    assert_eq!(browser.text(&badge(camera)).await, "Sold out");
    assert!(browser.text(&badge(drone)).await.starts_with("Starts "));
    browser
        .wait_for_text(&badge(lamp), "a countdown", |t| {
            t.starts_with("Starts in 0:")
        })
        .await;
    check_page(&browser, "catalogue").await;

    // Sold out: no Buy button at all.
    browser.goto(&page(camera)).await;
    browser
        .wait_for_text("#buy-state", "sold out", |t| t.starts_with("All gone."))
        .await;
    assert!(!browser.shown("#buy").await, "no Buy on a sold-out product");
    check_page(&browser, "product-sold-out").await;

    // Not yet on sale: the button counts down to the start and cannot be pressed, also after
    // a reload.
    browser.goto(&page(lamp)).await;
    let first = browser
        .wait_for_text("#buy", "the countdown", |t| t.starts_with("Starts in 0:"))
        .await;
    assert!(!browser.is_enabled("#buy").await);
    check_page(&browser, "product-starts-in").await;
    browser.client.refresh().await.expect("reload");
    let again = browser
        .wait_for_text("#buy", "the countdown", |t| t.starts_with("Starts in 0:"))
        .await;
    assert!(again <= first, "{first} then {again}");
    assert!(!browser.is_enabled("#buy").await);
    browser.goto(&page(drone)).await;
    browser
        .wait_for_text("#buy", "a long countdown", |t| {
            t.starts_with("Starts in 2:5") || t.starts_with("Starts in 3:00")
        })
        .await;

    // Signed in, the phone bought: already yours, with the order linked.
    crate::shopper::register_and_log_in(&browser, &shop, "cleo").await;
    browser.goto(&page(phone)).await;
    assert!(browser.is_enabled("#buy").await);
    check_page(&browser, "product-on-sale").await;
    browser.click("#buy").await;
    browser
        .wait_for_text("#buy-state", "the order", |t| {
            t == "It's yours! See your order"
        })
        .await;
    assert!(!browser.shown("#buy").await, "no second Buy");
    check_page(&browser, "product-bought").await;
    let order_link = link_of(&browser, "#buy-state a").await;
    assert!(order_link.starts_with("/order.html?id="), "{order_link}");
    browser.client.refresh().await.expect("reload");
    browser
        .wait_for_text("#buy-state", "still yours after a reload", |t| {
            t == "It's yours! See your order"
        })
        .await;
    assert_eq!(
        link_of(&browser, "#buy-state a").await,
        order_link,
        "the same order, found again"
    );
    assert!(!browser.shown("#buy").await);

    // The shopper's cooldown runs on every product page, and a reload keeps it.
    browser.goto(&page(mug)).await;
    let counting = browser
        .wait_for_text("#buy", "the cooldown", |t| t.starts_with("Buy ("))
        .await;
    assert!(!browser.is_enabled("#buy").await);
    check_page(&browser, "product-cooling-down").await;
    browser.client.refresh().await.expect("reload");
    let after = browser
        .wait_for_text("#buy", "the cooldown after a reload", |t| {
            t.starts_with("Buy (")
        })
        .await;
    assert!(
        seconds(&after) <= seconds(&counting),
        "{counting} then {after}"
    );
    assert!(!browser.is_enabled("#buy").await);
    // Then Buy comes back, and the server takes it.
    browser
        .wait_for_text("#buy", "Buy again", |t| t == "Buy")
        .await;
    browser.click("#buy").await;
    browser
        .wait_for_text("#buy-state", "the second order", |t| {
            t.starts_with("It's yours!")
        })
        .await;

    // The lamp's sale opens while the page is open: its button turns into Buy by itself.
    browser.goto(&page(lamp)).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !opened_now(&browser).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the countdown never ended in a live Buy: {}",
            browser.text("#buy").await
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    browser.close().await;
    shop.stack.shutdown().await.expect("shutdown");
}

/// The `href` of the link `css`, as written in the page.
async fn link_of(browser: &Browser, css: &str) -> String {
    browser
        .attr(css, "href")
        .await
        .unwrap_or_else(|| panic!("{css} has no href"))
}

/// The seconds on a "Buy (7)" button.
fn seconds(label: &str) -> u32 {
    label
        .trim_start_matches("Buy (")
        .trim_end_matches(')')
        .parse()
        .unwrap_or_else(|_| panic!("not a countdown: {label}"))
}

async fn opened_now(browser: &Browser) -> bool {
    browser.text("#buy").await == "Buy"
        && browser
            .find("#buy")
            .await
            .is_enabled()
            .await
            .unwrap_or(false)
}

#[tokio::test]
async fn my_orders_lists_product_price_time_and_status() {
    let products = [
        priced("Studio Headphones", 5, 8_900, "headphones"),
        priced("Trail Backpack", 5, 6_900, "backpack"),
    ];
    let shop = TestShop::start(&products, 0).await;
    let [headphones, backpack] = [shop.product_ids[0], shop.product_ids[1]];
    let rival = shop.shopper("rival").await;
    assert_eq!(shop.buy(&rival, backpack).await.0, 202);

    let browser = Browser::start().await;
    browser.goto(&format!("{}/orders.html", shop.url)).await;
    browser
        .wait_for_text("#orders-status", "the way in", |t| t.contains("log in"))
        .await;
    check_page(&browser, "orders-signed-out").await;

    crate::shopper::register_and_log_in(&browser, &shop, "dana").await;
    browser.goto(&format!("{}/orders.html", shop.url)).await;
    browser
        .wait_for_text("#orders-status", "no orders", |t| {
            t.starts_with("No orders yet")
        })
        .await;
    for id in [headphones, backpack] {
        browser
            .goto(&format!("{}/product/{id}.html", shop.url))
            .await;
        browser.click("#buy").await;
        browser
            .wait_for_text("#buy-state", "the order", |t| t.starts_with("It's yours!"))
            .await;
    }
    browser
        .client
        .find(fantoccini::Locator::Css(
            ".nav-links a[href='/orders.html']",
        ))
        .await
        .expect("My orders")
        .click()
        .await
        .expect("click");
    browser.wait_for_path("/orders.html").await;
    browser
        .wait_for_text("#orders-status", "two orders", |t| t == "2 orders")
        .await;
    let names = browser.text("#orders").await;
    let first = names.find("Trail Backpack").expect("the backpack");
    let second = names.find("Studio Headphones").expect("the headphones");
    assert!(first < second, "newest first: {names}");
    assert!(
        names.contains("$69.00") && names.contains("$89.00"),
        "{names}"
    );
    browser
        .wait_for_text("#orders .order-row:first-child .chip", "confirmed", |t| {
            t == "Confirmed"
        })
        .await;
    assert_eq!(
        browser
            .client
            .find_all(fantoccini::Locator::Css("#orders .order-row"))
            .await
            .expect("rows")
            .len(),
        2,
        "the rival's order is not listed"
    );
    check_page(&browser, "my-orders").await;

    // An order's page names its product and price.
    browser
        .click("#orders .order-row:first-child .order-name")
        .await;
    browser.wait_for_path("/order.html").await;
    browser
        .wait_for_text("#order-product", "the product", |t| t == "Trail Backpack")
        .await;
    assert_eq!(browser.text("#order-price").await, "$69.00");
    browser
        .wait_for_text("#order-status", "confirmed", |t| t.starts_with("Confirmed"))
        .await;
    check_page(&browser, "order").await;

    browser.close().await;
    shop.stack.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn dark_mode_pages_pass_the_contrast_check() {
    let products = [
        priced("Pocket Phone", 5, 19_900, "phone"),
        priced("Instant Camera", 0, 7_900, "camera"),
        NewProduct {
            sale_start: Some(now_unix() + 600),
            ..priced("Mini Drone", 5, 17_900, "drone")
        },
    ];
    let shop = TestShop::start(&products, 10).await;
    let browser = Browser::start_dark().await;
    let dark: bool = browser
        .client
        .execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            vec![],
        )
        .await
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    assert!(dark, "the browser asks for dark pages");

    browser.goto(&format!("{}/", shop.url)).await;
    check_page(&browser, "dark-catalogue").await;
    for (i, name) in [(1, "dark-product-sold-out"), (2, "dark-product-starts-in")] {
        browser
            .goto(&format!(
                "{}/product/{}.html",
                shop.url, shop.product_ids[i]
            ))
            .await;
        browser.find("#buy-box").await;
        check_page(&browser, name).await;
    }
    browser.goto(&format!("{}/user/login", shop.url)).await;
    browser.fill("#userName", "nobody").await;
    browser.fill("#password", "not a password").await;
    browser.click("form[action='/user/login'] button").await;
    browser
        .wait_for_text("#password-error", "the refusal", |t| !t.is_empty())
        .await;
    check_page(&browser, "dark-login-error").await;
    crate::shopper::register_and_log_in(&browser, &shop, "eve").await;
    browser
        .goto(&format!(
            "{}/product/{}.html",
            shop.url, shop.product_ids[0]
        ))
        .await;
    browser.click("#buy").await;
    browser
        .wait_for_text("#buy-state", "the order", |t| t.starts_with("It's yours!"))
        .await;
    check_page(&browser, "dark-product-bought").await;
    browser.goto(&format!("{}/orders.html", shop.url)).await;
    browser.find("#orders .order-row").await;
    check_page(&browser, "dark-my-orders").await;
    browser.goto(&format!("{}/no-such-page", shop.url)).await;
    check_page(&browser, "dark-404").await;

    browser.close().await;
    shop.stack.shutdown().await.expect("shutdown");
}
