//! A drop with a waiting room, in the browser: a shopper signs up, opens the product during
//! its prequeue, joins (the page's worker solves the challenge), sees the draw at the start,
//! waits with a number and an estimate, is let in, and buys. Screenshots of every state,
//! and of the page on a phone.

use crate::shop::{product, TestShop};
use crate::util::{Browser, PATIENCE};
use flashsale_core::domain::{now_unix, now_unix_ms, NewProduct};
use flashsale_core::waiting_room::LineStart;
use std::time::Duration;

/// Shoppers who join the line through the API before the browser's shopper, so the draw
/// has someone to place it among.
const OTHERS: i64 = 20;
/// The drop's rate, and how long after the draw admission begins.
const ADMIT_PER_SECOND: u32 = 2;
const HOLD_SECS: i64 = 6;

/// Records every headline the waiting room shows from now on, in `window.roomTexts`.
const WATCH_ROOM: &str = r#"
    const headline = document.getElementById("room-headline");
    window.roomTexts = [headline.textContent];
    new MutationObserver(() => {
        const t = headline.textContent;
        if (window.roomTexts[window.roomTexts.length - 1] !== t) window.roomTexts.push(t);
    }).observe(headline, { childList: true, characterData: true, subtree: true });
"#;

fn queued(name: &str, stock: i64, sale_start: i64, admit_per_second: u32) -> NewProduct {
    let picture = match name.rsplit(' ').next() {
        Some("Backpack") => "backpack",
        Some("Watch") => "watch",
        _ => "sneakers",
    };
    NewProduct {
        queue: true,
        admit_per_second,
        sale_start: Some(sale_start),
        image: format!("/static/img/{picture}.svg"),
        description: "The drop of the season. One pair per shopper.".into(),
        ..product(name, stock)
    }
}

impl Browser {
    /// The headlines the room showed (see [`WATCH_ROOM`]).
    async fn room_texts(&self) -> Vec<String> {
        self.client
            .execute("return window.roomTexts || [];", vec![])
            .await
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }

    /// Waits up to `patience` for the room's headline to satisfy `ok`; returns it.
    async fn wait_for_headline(
        &self,
        what: &str,
        patience: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let text = match self.fresh_text("#room-headline").await {
                Ok(text) if ok(&text) => return text,
                Ok(text) | Err(text) => text,
            };
            assert!(
                tokio::time::Instant::now() < deadline,
                "the waiting room never showed {what}; it shows {text:?} after {:?}",
                self.room_texts().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Joins `product`'s line as the shopper `cookie`, solving the challenge natively.
async fn join_line(shop: &TestShop, client: &reqwest::Client, cookie: &str, product: i64) {
    let challenge: serde_json::Value = client
        .get(format!("{}/queue/{product}/challenge", shop.url))
        .header("Cookie", cookie)
        .send()
        .await
        .expect("challenge")
        .json()
        .await
        .expect("challenge JSON");
    let text = challenge["challenge"].as_str().expect("a challenge");
    let bits = challenge["difficulty"].as_u64().expect("a difficulty") as u8;
    let nonce = flashsale_core::waiting_room::solve(text, bits);
    let joined = client
        .post(format!("{}/queue/{product}/join", shop.url))
        .header("Cookie", cookie)
        .form(&[("challenge", text), ("nonce", nonce.as_str())])
        .send()
        .await
        .expect("join");
    assert_eq!(joined.status(), 200, "join the line");
}

#[tokio::test]
async fn a_shopper_joins_the_line_waits_for_the_turn_and_buys() {
    // The sale starts when the shopper has had time to sign up and join.
    let start = now_unix() + 25;
    let products = [
        queued("Hyped Sneaker", 5, start, ADMIT_PER_SECOND),
        // Its line opens in an hour: closed.
        queued("Next Week's Backpack", 5, now_unix() + 7_200, 100),
        // Nothing left: the line is over.
        queued("Sold Out Watch", 0, now_unix() - 60, 100),
    ];
    let shop = TestShop::start_with(&products, 2, |config| {
        config.queue_prequeue_secs = 3_600;
        // Small enough for a test machine, big enough that the puzzle shows.
        config.queue_pow_difficulty = 14;
    })
    .await;
    let [drop, later, gone] = [
        shop.product_ids[0],
        shop.product_ids[1],
        shop.product_ids[2],
    ];

    // Admission begins a few seconds after the draw (as if the admin had held the line), so
    // whatever place the draw gives the shopper, the wait shows before the turn comes.
    shop.stack
        .room
        .set_rate(
            drop,
            LineStart {
                start_ms: (start + HOLD_SECS) * 1000,
                rate: ADMIT_PER_SECOND,
            },
            now_unix_ms(),
        )
        .await
        .expect("the line's schedule");
    // Others are in the prequeue already.
    let client = reqwest::Client::new();
    for uid in 0..OTHERS {
        join_line(&shop, &client, &shop.cookie_header(1_000 + uid), drop).await;
    }

    let browser = Browser::start().await;
    // A stranger is asked to log in first.
    browser
        .goto(&format!("{}/product/{drop}.html", shop.url))
        .await;
    browser
        .wait_for_text("#room-detail", "the way in", |t| {
            t == "Log in to take your place in the line."
        })
        .await;
    crate::shopper::register_and_log_in(&browser, &shop, "line_ann").await;

    // Closed: the line of the later drop opens an hour before its sale.
    browser
        .goto(&format!("{}/product/{later}.html", shop.url))
        .await;
    browser
        .wait_for_headline("the opening time", PATIENCE, |t| {
            t.starts_with("Line opens at ")
        })
        .await;
    assert!(!browser.is_enabled("#buy").await);
    browser.screenshot("room-1-closed").await;

    // Sold out: the line is closed.
    browser
        .goto(&format!("{}/product/{gone}.html", shop.url))
        .await;
    browser
        .wait_for_headline("the end of the line", PATIENCE, |t| {
            t == "Sold out: the line is closed"
        })
        .await;
    browser
        .wait_for_text("#buy", "the button's last label", |t| t == "Sold out")
        .await;
    browser.screenshot("room-2-sold-out").await;

    // The drop, during its prequeue.
    browser
        .goto(&format!("{}/product/{drop}.html", shop.url))
        .await;
    browser
        .wait_for_headline("the open line", PATIENCE, |t| t == "The line is open")
        .await;
    assert!(browser.is_displayed("#room-join").await);
    assert!(
        !browser.is_enabled("#buy").await,
        "Buy waits for the shopper's turn"
    );
    browser.screenshot("room-3-prequeue").await;

    browser
        .client
        .execute(WATCH_ROOM, vec![])
        .await
        .expect("watch the room");
    browser.click("#room-join").await;
    let joined = browser
        .wait_for_headline("the place taken", PATIENCE, |t| t.starts_with("You're in."))
        .await;
    assert!(
        joined.starts_with("You're in. The order is drawn at "),
        "{joined}"
    );
    assert!(
        browser
            .room_texts()
            .await
            .iter()
            .any(|t| t == "Joining the line\u{2026}"),
        "the puzzle showed its progress: {:?}",
        browser.room_texts().await
    );
    let countdown = browser.text("#room-detail").await;
    assert!(countdown.starts_with("Draw in 0:"), "{countdown}");
    browser.screenshot("room-4-joined").await;

    // The draw at the start: a number in line and an estimate, then the turn.
    let until_start = Duration::from_secs((start - now_unix()).max(0) as u64);
    let number = browser
        .wait_for_headline("a place in line", until_start + PATIENCE, |t| {
            t.starts_with("Number ")
        })
        .await;
    browser.screenshot("room-5-waiting").await;
    // "Number 7 in line, less than a minute": the place, then the estimate.
    let place: u64 = number["Number ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no number in {number:?}"));
    assert!(
        (1..=OTHERS as u64 + 1).contains(&place),
        "the draw placed the shopper among {} joiners: {number}",
        OTHERS + 1
    );
    assert!(
        number.contains("less than a minute") || number.contains("about "),
        "an estimate: {number}"
    );
    assert!(
        !browser.is_enabled("#buy").await,
        "not yet the shopper's turn"
    );
    let turn = browser
        .wait_for_headline(
            "the shopper's turn",
            Duration::from_secs((HOLD_SECS + OTHERS) as u64) + PATIENCE,
            |t| t.starts_with("It's your turn: "),
        )
        .await;
    assert!(turn.ends_with(" left to buy"), "{turn}");
    assert!(browser.is_enabled("#buy").await);
    browser.screenshot("room-6-your-turn").await;

    // Buy, in turn.
    browser.click("#buy").await;
    browser
        .wait_for_text("#buy-result", "the confirmation", |t| {
            t.starts_with("Order placed") || t.starts_with("Confirmed!")
        })
        .await;
    browser
        .wait_for_text("#buy-result", "the confirmed order", |t| {
            t.starts_with("Confirmed!")
        })
        .await;
    browser
        .wait_for_headline("the purchase", PATIENCE, |t| t == "You got one.")
        .await;
    browser.screenshot("room-7-bought").await;
    assert_eq!(shop.wait_for_confirmed(drop, 1).await.len(), 1);

    // On a phone.
    browser.resize(crate::util::PHONE).await;
    browser
        .goto(&format!("{}/product/{later}.html", shop.url))
        .await;
    browser
        .wait_for_headline("the opening time", PATIENCE, |t| {
            t.starts_with("Line opens at ")
        })
        .await;
    browser
        .client
        .execute(
            r#"document.getElementById("room").scrollIntoView({ block: "center" });"#,
            vec![],
        )
        .await
        .expect("scroll to the line");
    browser.screenshot("room-8-phone").await;
    let overflow = browser.wider_than_window().await;
    assert!(!overflow, "nothing is wider than the phone");

    browser.close().await;
    shop.stack.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn buy_before_the_turn_is_explained() {
    // The sale is on, the line paused: the shopper joins but is not let in.
    let shop = TestShop::start_with(
        &[queued("Paused Sneaker", 5, now_unix() - 5, 0)],
        10,
        |config| config.queue_pow_difficulty = 8,
    )
    .await;
    let id = shop.product_ids[0];
    let browser = Browser::start().await;
    crate::shopper::register_and_log_in(&browser, &shop, "line_bob").await;
    browser
        .goto(&format!("{}/product/{id}.html", shop.url))
        .await;
    browser
        .wait_for_headline("the open line", PATIENCE, |t| t == "The sale is on")
        .await;
    browser.click("#room-join").await;
    let waiting = browser
        .wait_for_headline("a place", PATIENCE, |t| t.starts_with("Number "))
        .await;
    assert_eq!(waiting, "Number 1 in line, the line is paused for now");
    assert!(!browser.is_enabled("#buy").await);
    // A Buy the page would not have let through (a stale tab, say): the shop refuses it and
    // the page says why.
    browser
        .client
        .execute(
            r#"const b = document.getElementById("buy"); b.disabled = false; b.click();"#,
            vec![],
        )
        .await
        .expect("press the disabled button");
    browser
        .wait_for_text("#buy-result", "the refusal explained", |t| {
            t.starts_with("It's not your turn yet")
        })
        .await;
    browser
        .wait_for_text("#buy", "no cooldown after a refusal", |t| t == "Buy")
        .await;
    browser.screenshot("room-not-admitted").await;
    browser.close().await;
    shop.stack.shutdown().await.expect("shutdown");
}

/// The status of `product`'s line for the shopper `cookie`.
async fn line_status(
    shop: &TestShop,
    client: &reqwest::Client,
    cookie: &str,
    product: i64,
) -> serde_json::Value {
    client
        .get(format!("{}/queue/{product}/status", shop.url))
        .header("Cookie", cookie)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status JSON")
}

#[tokio::test]
async fn an_admin_watches_the_line_and_pauses_it() {
    // A drop under way at one shopper a second, with a line that takes half a minute.
    let shop = TestShop::start_with(
        &[queued("Hyped Sneaker", 50, now_unix() - 2, 1)],
        10,
        |config| config.queue_pow_difficulty = 8,
    )
    .await;
    let id = shop.product_ids[0];
    let client = reqwest::Client::new();
    let last = shop.cookie_header(2_030);
    for uid in 2_001..=2_030 {
        join_line(&shop, &client, &shop.cookie_header(uid), id).await;
    }
    let (admin, password) = crate::admin::admin_beside(&shop).await;
    let browser = Browser::start().await;
    crate::admin::log_in(&browser, &admin, &password).await;

    // The dashboard's panel of the line.
    let card = format!("[data-room='{id}']");
    browser
        .wait_for_text(&format!("{card} [data-q='inLine']"), "the line", |t| {
            t == "30"
        })
        .await;
    browser
        .wait_for_text(&format!("{card} [data-q='rate']"), "the rate", |t| {
            t == "1/s"
        })
        .await;
    browser
        .wait_for_text(
            &format!("{card} [data-q='admitted']"),
            "admissions, live",
            |t| t.parse::<u64>().is_ok_and(|n| n >= 1),
        )
        .await;
    browser.screenshot("room-admin-dashboard").await;

    // Pause from the product's page: the gateways stop admitting within a second.
    browser
        .goto(&format!("{}/products/{id}/edit", admin.url))
        .await;
    browser.find("#room-control").await;
    browser.screenshot("room-admin-controls").await;
    browser.click("#room-pause").await;
    browser.wait_for_path("/products").await;
    browser
        .wait_for_text(
            &format!("#products tr[data-id='{id}'] .room"),
            "paused",
            |t| t == "paused",
        )
        .await;
    let paused = crate::util::eventually(|| async {
        line_status(&shop, &client, &last, id).await["etaSeconds"].is_null()
    })
    .await;
    assert!(paused, "the gateway still admits the last in line");
    let product = shop
        .db()
        .get_product(id)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(product.stock, 50, "pausing keeps the stock as it is");

    // Resume at a faster rate: the last in line is let in.
    browser
        .goto(&format!("{}/products/{id}/edit", admin.url))
        .await;
    browser.fill("#room-rate", "50").await;
    browser.click("#room-set-rate").await;
    browser.wait_for_path("/products").await;
    let admitted = crate::util::eventually(|| async {
        line_status(&shop, &client, &last, id).await["admitted"] == true
    })
    .await;
    assert!(admitted, "resumed at 50 a second, the last of 30 is in");

    browser.close().await;
    admin.stop().await;
    shop.stack.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_shop_that_asks_work_of_new_accounts_still_lets_people_register() {
    let shop = TestShop::start_with(&[product("Pocket Phone", 3)], 10, |config| {
        config.register_pow_difficulty = 12;
    })
    .await;
    // A script posting the form without the work is turned away.
    let script = shop.browser();
    let refused = script
        .post(format!("{}/user/register", shop.url))
        .form(&[
            ("nickName", "bot"),
            ("userName", "bot_1"),
            ("password", "correct horse"),
        ])
        .send()
        .await
        .expect("register");
    assert_eq!(refused.status(), 400);

    // A person's browser does the work while they press Register.
    let browser = Browser::start().await;
    crate::shopper::register_and_log_in(&browser, &shop, "worker_ann").await;
    browser.close().await;
    shop.stack.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_turn_not_used_in_time_passes() {
    let shop = TestShop::start_with(
        &[queued("Hyped Sneaker", 5, now_unix() - 5, 10)],
        10,
        |config| {
            config.queue_pow_difficulty = 8;
            config.queue_pass_secs = 3;
        },
    )
    .await;
    let id = shop.product_ids[0];
    let browser = Browser::start().await;
    crate::shopper::register_and_log_in(&browser, &shop, "line_cid").await;
    browser
        .goto(&format!("{}/product/{id}.html", shop.url))
        .await;
    browser.click("#room-join").await;
    browser
        .wait_for_headline("the turn", PATIENCE, |t| {
            t.starts_with("It's your turn: 0:0")
        })
        .await;
    assert!(browser.is_enabled("#buy").await);
    browser
        .wait_for_headline("the turn passing", PATIENCE, |t| {
            t == "Your turn has passed"
        })
        .await;
    assert!(
        !browser.is_enabled("#buy").await,
        "no Buy once the turn has passed"
    );
    browser.screenshot("room-turn-passed").await;
    browser.close().await;
    shop.stack.shutdown().await.expect("shutdown");
}
