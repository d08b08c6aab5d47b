use crate::util::{product, TestShop};

#[tokio::test]
async fn register_login_buy_and_see_the_order_confirmed() {
    let shop = TestShop::start(&[product("Phone", 5)], 10).await;
    let pid = shop.product_ids[0];
    let ann = shop.shopper("ann").await;

    let (status, body) = shop.buy(&ann, pid).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["result"], "queued");
    let order_id = body["orderId"].as_str().expect("an order id").to_string();

    shop.wait_for_confirmed(pid, 1).await;
    let r = ann
        .get(format!("{}/order/{order_id}", shop.url))
        .send()
        .await
        .expect("order status");
    assert_eq!(r.status(), 200);
    let status: serde_json::Value = r.json().await.expect("json");
    assert_eq!(status["status"], "confirmed");
    assert_eq!(status["productId"], pid);
    assert_eq!(status["orderId"], order_id.as_str());

    // The stock shown on the page went down by one.
    let stock: serde_json::Value = reqwest::get(format!("{}/stock/{pid}", shop.url))
        .await
        .expect("stock")
        .json()
        .await
        .expect("json");
    assert_eq!(stock["remaining"], 4);
}

#[tokio::test]
async fn login_sets_http_only_cookies_and_logout_clears_them() {
    let shop = TestShop::start(&[product("Phone", 5)], 10).await;
    let browser = shop.browser();
    browser
        .post(format!("{}/user/register", shop.url))
        .form(&[
            ("nickName", "Bo"),
            ("userName", "bo"),
            ("password", "tulip garage 47"),
        ])
        .send()
        .await
        .expect("register");
    let r = browser
        .post(format!("{}/user/login", shop.url))
        .form(&[("userName", "bo"), ("password", "tulip garage 47")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for name in ["uid=", "sign="] {
        let c = cookies
            .iter()
            .find(|c| c.starts_with(name))
            .expect("cookie set");
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"),
            "{c}"
        );
    }

    let r = browser
        .post(format!("{}/user/logout", shop.url))
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    let (status, _) = shop.buy(&browser, shop.product_ids[0]).await;
    assert_eq!(status, 401, "a logged-out shopper cannot buy");
}

#[tokio::test]
async fn bad_form_fields_are_400() {
    let shop = TestShop::start(&[], 10).await;
    let long = "x".repeat(65);
    let cases: Vec<[(&str, &str); 3]> = vec![
        [
            ("nickName", ""),
            ("userName", "a"),
            ("password", "tulip garage 47"),
        ],
        [
            ("nickName", "A"),
            ("userName", ""),
            ("password", "tulip garage 47"),
        ],
        [("nickName", "A"), ("userName", "a"), ("password", "")],
        [
            ("nickName", "A"),
            ("userName", "a"),
            ("password", "1234567"),
        ],
        [
            ("nickName", &long),
            ("userName", "a"),
            ("password", "tulip garage 47"),
        ],
        [
            ("nickName", "A"),
            ("userName", &long),
            ("password", "tulip garage 47"),
        ],
        [("nickName", "A"), ("userName", "a"), ("password", &long)],
        [
            ("nickName", "A"),
            ("userName", "a\u{0}b"),
            ("password", "tulip garage 47"),
        ],
    ];
    let browser = shop.browser();
    for form in cases {
        let r = browser
            .post(format!("{}/user/register", shop.url))
            .form(&form)
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 400, "{form:?}");
    }
    // A 64-character name is fine.
    let ok = "y".repeat(64);
    let r = browser
        .post(format!("{}/user/register", shop.url))
        .form(&[
            ("nickName", ok.as_str()),
            ("userName", ok.as_str()),
            ("password", "tulip garage 47"),
        ])
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn taken_user_name_is_409_and_html_is_escaped_in_the_answer() {
    let shop = TestShop::start(&[], 10).await;
    let browser = shop.browser();
    let name = "<script>alert('carl')</script>";
    let form = [
        ("nickName", "<b>x</b>"),
        ("userName", name),
        ("password", "tulip garage 47"),
    ];
    let first = browser
        .post(format!("{}/user/register", shop.url))
        .form(&form)
        .send()
        .await
        .expect("register");
    assert_eq!(first.status(), 303);
    let again = browser
        .post(format!("{}/user/register", shop.url))
        .form(&form)
        .send()
        .await
        .expect("register");
    assert_eq!(again.status(), 409);
    assert!(again.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    let page = again.text().await.expect("page");
    // The answer names the taken user name, as text: escaped, never as markup.
    assert!(
        page.contains("&lt;script&gt;alert(&#x27;carl&#x27;)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("alert('carl')"), "{page}");
}

#[tokio::test]
async fn every_bad_credential_is_the_same_401() {
    let shop = TestShop::start(&[], 10).await;
    shop.shopper("dora").await;
    let mut bodies = Vec::new();
    for (user, password) in [
        ("dora", "wrong password"),
        ("nobody", "correct horse"),
        ("", ""),
        ("dora", ""),
    ] {
        let r = shop
            .browser()
            .post(format!("{}/user/login", shop.url))
            .form(&[("userName", user), ("password", password)])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 401, "{user}/{password}");
        assert!(r.headers().get("set-cookie").is_none());
        bodies.push(r.text().await.expect("body"));
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "answers differ: {bodies:?}"
    );
}

#[tokio::test]
async fn oversized_form_is_refused() {
    let shop = TestShop::start(&[], 10).await;
    let huge = "a".repeat(64 * 1024);
    let r = shop
        .browser()
        .post(format!("{}/user/register", shop.url))
        .form(&[
            ("nickName", huge.as_str()),
            ("userName", "e"),
            ("password", "tulip garage 47"),
        ])
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 413);
    assert!(shop
        .db()
        .find_user_by_name("e")
        .await
        .expect("lookup")
        .is_none());
}
