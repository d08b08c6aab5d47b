//! Sessions end when the shopper says so: logout revokes the token itself (a copied `sign`
//! stops working), "log out everywhere" and a password change end every session; rotating the
//! cookie secret keeps shoppers logged in.

use crate::util::{product, TestShop};
use flashsale_core::SignCodec;

/// The `Cookie` header a browser would send after this answer set `uid` and `sign`.
fn cookie_header(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .filter(|kv| kv.starts_with("uid=") || kv.starts_with("sign="))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn register(shop: &TestShop, user: &str, password: &str) {
    let r = shop
        .browser()
        .post(format!("{}/user/register", shop.url))
        .form(&[
            ("nickName", user),
            ("userName", user),
            ("password", password),
        ])
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 303, "register {user}");
}

/// Logs in; the cookie header of the new session.
async fn login(shop: &TestShop, user: &str, password: &str) -> String {
    let r = shop
        .browser()
        .post(format!("{}/user/login", shop.url))
        .form(&[("userName", user), ("password", password)])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303, "login {user}");
    cookie_header(&r)
}

/// The status of a signed-in request carrying `cookie`: 404 (signed in, no such order) or 401.
async fn signed_in_status(url: &str, cookie: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{url}/order/no-such-order"))
        .header("Cookie", cookie)
        .send()
        .await
        .expect("order status")
        .status()
        .as_u16()
}

async fn post_with(
    url: &str,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{url}{path}"))
        .header("Cookie", cookie)
        .form(form)
        .send()
        .await
        .expect("post")
}

/// Regression (issue 14, finding 6): logout only cleared the browser's cookies, so a copied
/// `sign` kept working for its whole TTL. Now the copy is refused at once.
#[tokio::test]
async fn finding_6_a_copied_sign_is_refused_after_logout() {
    let shop = TestShop::start(&[product("Phone", 5)], 10).await;
    register(&shop, "eve", "correct horse").await;
    let copied = login(&shop, "eve", "correct horse").await;
    let other_device = login(&shop, "eve", "correct horse").await;
    assert_eq!(signed_in_status(&shop.url, &copied).await, 404);

    let r = post_with(&shop.url, "/user/logout", &copied, &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(signed_in_status(&shop.url, &copied).await, 401);
    let (status, _) = shop
        .buy(
            &reqwest::Client::builder()
                .default_headers(
                    [(
                        reqwest::header::COOKIE,
                        copied.parse().expect("header value"),
                    )]
                    .into_iter()
                    .collect(),
                )
                .build()
                .expect("client"),
            shop.product_ids[0],
        )
        .await;
    assert_eq!(status, 401, "a revoked token cannot buy");
    assert_eq!(
        signed_in_status(&shop.url, &other_device).await,
        404,
        "logging out one browser leaves the others signed in"
    );
}

#[tokio::test]
async fn logging_out_everywhere_ends_every_session_and_a_new_login_works() {
    let shop = TestShop::start(&[], 10).await;
    register(&shop, "fay", "correct horse").await;
    let phone = login(&shop, "fay", "correct horse").await;
    let laptop = login(&shop, "fay", "correct horse").await;
    let r = post_with(&shop.url, "/user/logout", &laptop, &[("everywhere", "1")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(signed_in_status(&shop.url, &phone).await, 401);
    assert_eq!(signed_in_status(&shop.url, &laptop).await, 401);
    let again = login(&shop, "fay", "correct horse").await;
    assert_eq!(signed_in_status(&shop.url, &again).await, 404);
}

#[tokio::test]
async fn a_password_change_ends_other_sessions_and_keeps_this_one() {
    let shop = TestShop::start(&[], 10).await;
    let form = reqwest::get(format!("{}/user/password", shop.url))
        .await
        .expect("form");
    assert_eq!(form.status(), 200);
    let form = form.text().await.expect("body");
    assert!(form.contains("name=\"newPassword\"") && form.contains("action=\"/user/password\""));
    register(&shop, "gus", "correct horse").await;
    let thief = login(&shop, "gus", "correct horse").await;
    let mine = login(&shop, "gus", "correct horse").await;

    let wrong = post_with(
        &shop.url,
        "/user/password",
        &mine,
        &[
            ("password", "not my password"),
            ("newPassword", "tulip garage 47"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let weak = post_with(
        &shop.url,
        "/user/password",
        &mine,
        &[("password", "correct horse"), ("newPassword", "password")],
    )
    .await;
    assert_eq!(weak.status(), 400);

    let r = post_with(
        &shop.url,
        "/user/password",
        &mine,
        &[
            ("password", "correct horse"),
            ("newPassword", "tulip garage 47"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let renewed = cookie_header(&r);
    assert_eq!(signed_in_status(&shop.url, &thief).await, 401);
    assert_eq!(signed_in_status(&shop.url, &mine).await, 401);
    assert_eq!(signed_in_status(&shop.url, &renewed).await, 404);
    login(&shop, "gus", "tulip garage 47").await;
    let old = shop
        .browser()
        .post(format!("{}/user/login", shop.url))
        .form(&[("userName", "gus"), ("password", "correct horse")])
        .send()
        .await
        .expect("login");
    assert_eq!(old.status(), 401, "the old password no longer works");
}

/// Regression (issue 14, finding 6): nothing in config reached the codec's older keys, so
/// rotating the cookie secret logged everyone out. A token of a previous secret now works; one
/// of a secret the shop never had does not.
#[tokio::test]
async fn finding_6_tokens_of_the_previous_cookie_secret_still_work_after_rotation() {
    let previous = flashsale_core::config::random_secret();
    let unknown = flashsale_core::config::random_secret();
    let shop = TestShop::start_with(&[], 10, |c| {
        c.cookie_secret_previous = vec![previous.clone()];
    })
    .await;
    register(&shop, "hal", "correct horse").await;
    let uid = shop
        .db()
        .find_user_by_name("hal")
        .await
        .expect("lookup")
        .expect("registered")
        .id;
    let minted = |secret: &str| {
        let token = SignCodec::new(1, secret.as_bytes())
            .issue(uid, flashsale_core::domain::now_unix() + 3600);
        format!("uid={uid}; sign={token}")
    };
    assert_eq!(signed_in_status(&shop.url, &minted(&previous)).await, 404);
    assert_eq!(signed_in_status(&shop.url, &minted(&unknown)).await, 401);
    // New logins are signed with the current secret.
    let fresh = login(&shop, "hal", "correct horse").await;
    let sign = fresh
        .split("; ")
        .find_map(|kv| kv.strip_prefix("sign="))
        .expect("sign");
    let current = shop.config.cookie_secret.clone().expect("secret");
    assert_eq!(
        SignCodec::new(1, current.as_bytes()).verify(sign, flashsale_core::domain::now_unix()),
        Ok(uid)
    );
}

/// Regression (issue 14, finding 10): cookies had no `Secure` option for TLS deployments.
#[tokio::test]
async fn finding_10_cookie_secure_sets_the_secure_flag() {
    let shop = TestShop::start_with(&[], 10, |c| c.cookie_secure = true).await;
    register(&shop, "ivy", "correct horse").await;
    let r = shop
        .browser()
        .post(format!("{}/user/login", shop.url))
        .form(&[("userName", "ivy"), ("password", "correct horse")])
        .send()
        .await
        .expect("login");
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    // uid, sign, and the header's readable `shopper` name.
    assert_eq!(cookies.len(), 3, "{cookies:?}");
    assert!(
        cookies.iter().all(|c| c.contains("; Secure")),
        "{cookies:?}"
    );
}
