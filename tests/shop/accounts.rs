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
    assert_eq!(cookies.len(), 3, "{cookies:?}");
    // The header's greeting reads the nickname from a cookie the page's script can see; it
    // holds nothing else.
    let shopper = cookies
        .iter()
        .find(|c| c.starts_with("shopper="))
        .expect("the shopper cookie");
    assert!(shopper.starts_with("shopper=Bo;"), "{shopper}");
    assert!(!shopper.contains("HttpOnly"), "{shopper}");
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
    let cleared: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("shopper=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
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
    assert!(!page.contains("<script>"), "{page}");
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
        // The page puts back the name typed; apart from that, every answer is the same.
        let body = r.text().await.expect("body");
        let (_, _, values) = form_state(&body);
        assert_eq!(values["userName"], user);
        let from = body.find("data-values=\"").expect("values");
        let to = from + body[from..].find("\">").expect("end of the values");
        bodies.push(format!("{}{}", &body[..from], &body[to..]));
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "answers differ: {bodies:?}"
    );
}

/// The `#form-state` notice of a refused form: (field at fault, message, values kept).
fn form_state(page: &str) -> (String, String, serde_json::Value) {
    let start = page
        .find("id=\"form-state\"")
        .unwrap_or_else(|| panic!("no notice: {page}"));
    let rest = &page[start..];
    let attr = |name: &str| {
        let from = rest.find(&format!("{name}=\"")).expect("attribute") + name.len() + 2;
        let to = from + rest[from..].find('"').expect("closing quote");
        rest[from..to]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#x27;", "'")
            .replace("&amp;", "&")
    };
    let message_from = rest.find("<p>").expect("message") + 3;
    let message_to = message_from + rest[message_from..].find("</p>").expect("end");
    let values = serde_json::from_str(&attr("data-values")).expect("values are JSON");
    (
        attr("data-field"),
        rest[message_from..message_to].to_owned(),
        values,
    )
}

#[tokio::test]
async fn refused_forms_come_back_as_the_shop_page_with_the_error_at_its_field() {
    let shop = TestShop::start(&[], 10).await;
    shop.shopper("erin").await;
    let browser = shop.browser();
    let post = |path: &'static str, form: Vec<(&'static str, &'static str)>| {
        let browser = browser.clone();
        let url = format!("{}{path}", shop.url);
        async move {
            let r = browser.post(url).form(&form).send().await.expect("post");
            let status = r.status().as_u16();
            (status, r.text().await.expect("page"))
        }
    };

    // A taken user name: 409, on the register page, next to the user name, form kept.
    let (status, page) = post(
        "/user/register",
        vec![
            ("nickName", "Erin Two"),
            ("userName", "erin"),
            ("password", "tulip garage 47"),
            ("next", "/product/1.html"),
        ],
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        page.contains("class=\"topbar\""),
        "the shop's own page: {page}"
    );
    assert!(page.contains("<h1>Create an account</h1>"), "{page}");
    let (field, message, values) = form_state(&page);
    assert_eq!(field, "userName");
    assert!(message.contains("already taken"), "{message}");
    assert_eq!(values["nickName"], "Erin Two");
    assert_eq!(values["userName"], "erin");
    assert_eq!(values["next"], "/product/1.html");
    assert!(
        !page.contains("tulip garage 47"),
        "a password is never sent back"
    );

    // A guessable password: 400, at the password.
    let (status, page) = post(
        "/user/register",
        vec![
            ("nickName", "Finn"),
            ("userName", "finn"),
            ("password", "password1"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    let (field, message, _) = form_state(&page);
    assert_eq!(field, "password", "{message}");
    assert!(!page.contains("password1"), "{page}");

    // An empty nickname: 400, at the nickname.
    let (status, page) = post(
        "/user/register",
        vec![
            ("nickName", ""),
            ("userName", "gil"),
            ("password", "tulip garage 47"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(form_state(&page).0, "nickName");

    // A wrong password: 401 on the login page, the user name kept.
    let (status, page) = post(
        "/user/login",
        vec![
            ("userName", "erin"),
            ("password", "not it at all"),
            ("next", "/product/1.html"),
        ],
    )
    .await;
    assert_eq!(status, 401);
    assert!(page.contains("<h1>Log in</h1>"), "{page}");
    let (field, message, values) = form_state(&page);
    assert_eq!(field, "password");
    assert_eq!(message, "Wrong user name or password.");
    assert_eq!(values["userName"], "erin");
    assert_eq!(values["next"], "/product/1.html");
}

#[tokio::test]
async fn login_goes_back_to_the_page_the_shopper_came_from_on_this_site_only() {
    let shop = TestShop::start(&[], 10).await;
    shop.shopper("hana").await;
    let login = |next: &'static str| {
        let browser = shop.browser();
        let url = format!("{}/user/login", shop.url);
        async move {
            let r = browser
                .post(url)
                .form(&[
                    ("userName", "hana"),
                    ("password", "correct horse"),
                    ("next", next),
                ])
                .send()
                .await
                .expect("login");
            assert_eq!(r.status(), 303, "{next}");
            r.headers()["location"].to_str().expect("ascii").to_owned()
        }
    };
    assert_eq!(login("/product/7.html").await, "/product/7.html");
    assert_eq!(login("/orders.html").await, "/orders.html");
    assert_eq!(login("").await, "/");
    for evil in [
        "//evil.example",
        "https://evil.example",
        "http://evil.example/product/1.html",
        "/\\evil.example",
        "evil.example",
        "/user/logout",
    ] {
        assert_eq!(login(evil).await, "/", "{evil} is not a page of this shop");
    }

    // Registering keeps the way back, and tells the login page the account was made.
    let r = shop
        .browser()
        .post(format!("{}/user/register", shop.url))
        .form(&[
            ("nickName", "Ivo"),
            ("userName", "ivo"),
            ("password", "tulip garage 47"),
            ("next", "/product/7.html"),
        ])
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/user/login?next=%2Fproduct%2F7%2Ehtml"
    );
    let created = r.headers()["set-cookie"].to_str().expect("ascii");
    assert!(
        created.starts_with("created=1;") && created.contains("Path=/user/login"),
        "{created}"
    );
    let r = shop
        .browser()
        .post(format!("{}/user/register", shop.url))
        .form(&[
            ("nickName", "Jo"),
            ("userName", "jo"),
            ("password", "tulip garage 47"),
            ("next", "https://evil.example"),
        ])
        .send()
        .await
        .expect("register");
    assert_eq!(
        r.headers()["location"],
        "/user/login",
        "no way out of the shop"
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
