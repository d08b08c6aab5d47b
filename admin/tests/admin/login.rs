//! Logging in: the cookie's flags, one message for every bad credential, throttling, the
//! login form's CSRF check, and logging out.

use crate::util::{Admin, PASSWORD, USER};

#[tokio::test]
async fn a_login_sets_a_strict_http_only_session_cookie() {
    let admin = Admin::start().await;
    let (answer, cookie) = admin.try_login(USER, PASSWORD).await;
    assert_eq!(answer.status, 303);
    let set = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("fs_admin="))
        .expect("session cookie")
        .to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{flag} missing in {set}");
    }
    let dashboard = admin.get("/", &cookie).await;
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.body.contains("Log out admin"));
}

#[tokio::test]
async fn bad_credentials_get_one_message_and_are_throttled() {
    let admin = Admin::start().await;
    for (user, password) in [("admin", "wrong"), ("nobody", PASSWORD), ("", "")] {
        let (answer, cookie) = admin.try_login(user, password).await;
        assert_eq!(answer.status, 401, "{user}/{password}");
        assert!(answer.body.contains("Wrong user name or password."));
        assert!(cookie.is_empty(), "no session for a failed login");
    }
    // Two more failures make five for this address: now even the right password waits.
    for _ in 0..2 {
        assert_eq!(admin.try_login(USER, "wrong").await.0.status, 401);
    }
    let (answer, cookie) = admin.try_login(USER, PASSWORD).await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert!(answer
        .body
        .contains("Too many failed attempts. Try again in"));
    assert!(
        answer
            .header("retry-after")
            .parse::<u64>()
            .expect("seconds")
            > 0
    );
    assert!(cookie.is_empty());
}

#[tokio::test]
async fn the_login_form_needs_its_own_csrf_token() {
    let admin = Admin::start().await;
    let form = admin.get("/login", "").await;
    let csrf = form.field("csrf");
    // The token without its cookie (a form posted from another site) is refused.
    let answer = admin
        .post_form(
            "/login",
            "",
            &[("user", USER), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(answer.status, 403);
    assert!(answer.body.contains("The login form expired"));
    assert!(answer.cookie("fs_admin").is_none());
}

#[tokio::test]
async fn logging_out_ends_the_session() {
    let admin = Admin::start().await;
    let session = admin.login().await;
    // Without the CSRF token, a logout form from elsewhere is refused.
    let refused = admin.post_form("/logout", &session.cookie, &[]).await;
    assert_eq!(refused.status, 403);
    assert_eq!(admin.get("/", &session.cookie).await.status, 200);
    let out = admin
        .post_form("/logout", &session.cookie, &[("csrf", &session.csrf)])
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), "/login");
    let after = admin.get("/", &session.cookie).await;
    assert_eq!(after.status, 303, "the old cookie no longer works");
    assert_eq!(after.header("location"), "/login");
}
