//! Password guessing is slowed per user name and per client address without locking the owner
//! out for good; guessable passwords are refused with a reason; cross-site form posts refused.

use crate::util::TestShop;
use std::time::{Duration, Instant};

/// Clients behind the trusted proxy (this machine): `X-Forwarded-For` names them.
const ATTACKER: &str = "203.0.113.9";
const OWNER: &str = "198.51.100.7";

async fn login_from(shop: &TestShop, from: &str, user: &str, password: &str) -> reqwest::Response {
    shop.browser()
        .post(format!("{}/user/login", shop.url))
        .header("X-Forwarded-For", from)
        .form(&[("userName", user), ("password", password)])
        .send()
        .await
        .expect("login")
}

/// Regression (issue 14, finding 5): login had no throttling (30 wrong passwords, then the
/// right one, got in). Now the guesses are answered 429 with `Retry-After`, and once the window
/// has passed the owner gets in again.
#[tokio::test]
async fn finding_5_forty_wrong_passwords_are_slowed_and_the_owner_gets_in_after_the_window() {
    let shop = TestShop::start_with(&[], 10, |c| {
        c.trusted_proxies = vec!["127.0.0.1".into()];
        c.login_window_secs = 2;
    })
    .await;
    shop.shopper("ida").await;
    let mut refused = None;
    for _ in 0..40 {
        let r = login_from(&shop, ATTACKER, "ida", "wrong guess").await;
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), 401);
    }
    let refused = refused.expect("40 wrong passwords in a row were never slowed");
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        login_from(&shop, ATTACKER, "ida", "correct horse")
            .await
            .status(),
        429,
        "the right password does not get through while slowed"
    );

    // After the window the owner gets in from their own address.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = login_from(&shop, OWNER, "ida", "correct horse").await;
        if r.status() == 303 {
            break;
        }
        assert_eq!(r.status(), 429);
        assert!(Instant::now() < deadline, "the owner is still locked out");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And a stranger's guesses no longer slow the owner's own address.
    for _ in 0..20 {
        login_from(&shop, ATTACKER, "ida", "wrong guess").await;
    }
    assert_eq!(
        login_from(&shop, OWNER, "ida", "correct horse")
            .await
            .status(),
        303
    );
}

/// Regression (issue 14, finding 5): `password`, `aaaaaaaa` and eight spaces were accepted.
#[tokio::test]
async fn finding_5_guessable_passwords_are_refused_with_a_reason() {
    let shop = TestShop::start(&[], 10).await;
    for weak in ["password", "aaaaaaaa", "        ", "jenny-jenny"] {
        let r = shop
            .browser()
            .post(format!("{}/user/register", shop.url))
            .form(&[
                ("nickName", "J"),
                ("userName", "jenny-jenny"),
                ("password", weak),
            ])
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 400, "{weak:?}");
        let body = r.text().await.expect("body");
        assert!(
            body.contains("guess") || body.contains("spaces"),
            "{weak:?}: {body}"
        );
    }
}

#[tokio::test]
async fn registrations_from_one_address_are_limited() {
    let shop = TestShop::start_with(&[], 10, |c| c.register_per_address = 3).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let user = format!("kim{i}");
        let r = shop
            .browser()
            .post(format!("{}/user/register", shop.url))
            .form(&[
                ("nickName", "K"),
                ("userName", &user),
                ("password", "correct horse"),
            ])
            .send()
            .await
            .expect("register");
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(statuses, [303, 303, 303, 429]);
}

/// Regression (issue 14, finding 10): `/user/login` accepted cross-site form posts.
#[tokio::test]
async fn finding_10_cross_site_account_posts_are_refused() {
    let shop = TestShop::start(&[], 10).await;
    shop.shopper("lou").await;
    for path in ["/user/login", "/user/register", "/user/logout"] {
        let r = shop
            .browser()
            .post(format!("{}{path}", shop.url))
            .header("Origin", "https://evil.example")
            .form(&[("userName", "lou"), ("password", "correct horse")])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 403, "{path}");
    }
    let same_site = shop
        .browser()
        .post(format!("{}/user/login", shop.url))
        .header("Origin", &shop.url)
        .form(&[("userName", "lou"), ("password", "correct horse")])
        .send()
        .await
        .expect("post");
    assert_eq!(same_site.status(), 303);
}

/// Without `trusted_proxies`, `X-Forwarded-For` is the client's own claim: rotating it does
/// not escape the per-address limit.
#[tokio::test]
async fn a_forged_forwarded_for_does_not_escape_the_address_limit() {
    let shop = TestShop::start_with(&[], 10, |c| c.login_failures_per_address = 5).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = login_from(
            &shop,
            &format!("10.9.9.{i}"),
            &format!("nobody{i}"),
            "wrong guess",
        )
        .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
}
