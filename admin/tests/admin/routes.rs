//! Every route refuses an unauthenticated request. The test walks the router's one route
//! table, so a route added later is checked too; a new public route must be added here on
//! purpose.

use crate::util::{Admin, TOKEN};
use axum::body::Body;
use axum::http::{header, Request};
use flashsale_admin::{Access, ROUTES};

/// The only routes anyone may use: the login form, the assets its page needs, and the health
/// check (it says nothing but "ok").
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/static/{file}"),
];

#[tokio::test]
async fn every_route_refuses_an_unauthenticated_request() {
    let admin = Admin::start().await;
    let id = admin
        .db
        .insert_product(&crate::util::product("Pocket Phone", 5))
        .await
        .expect("insert");
    let session = admin.login().await;
    let mut checked = 0;
    for route in ROUTES {
        let method = route.method.as_str();
        let path = route
            .path
            .replace("{id}", &id.to_string())
            .replace("{file}", "admin.css");
        match route.access {
            Access::Public => {
                assert!(
                    PUBLIC.contains(&(method, route.path)),
                    "{method} {} is public but not on the reviewed list",
                    route.path
                );
                continue;
            }
            Access::Session => {
                // No cookie, a forged cookie, and the API token: all sent to the login page.
                for (cookie, auth) in [
                    ("", ""),
                    ("fs_admin=forged", ""),
                    ("", "Bearer test-api-token-0123456789"),
                ] {
                    let mut req = Request::builder().method(method).uri(&path);
                    if !cookie.is_empty() {
                        req = req.header(header::COOKIE, cookie);
                    }
                    if !auth.is_empty() {
                        req = req.header(header::AUTHORIZATION, auth);
                    }
                    let answer = admin
                        .send(req.body(Body::from("csrf=x")).expect("request"))
                        .await;
                    assert_eq!(
                        answer.status, 303,
                        "{method} {path} with {cookie:?} {auth:?}"
                    );
                    assert_eq!(answer.header("location"), "/login", "{method} {path}");
                }
            }
            Access::Token => {
                // No token, a wrong token, another scheme, and a logged-in session cookie.
                for (auth, cookie) in [
                    ("", ""),
                    ("Bearer wrong-token", ""),
                    (&format!("Basic {TOKEN}") as &str, ""),
                    ("", session.cookie.as_str()),
                ] {
                    let mut req = Request::builder()
                        .method(method)
                        .uri(&path)
                        .header(header::CONTENT_TYPE, "application/json");
                    if !auth.is_empty() {
                        req = req.header(header::AUTHORIZATION, auth);
                    }
                    if !cookie.is_empty() {
                        req = req.header(header::COOKIE, cookie);
                    }
                    let answer = admin
                        .send(req.body(Body::from("{}")).expect("request"))
                        .await;
                    assert_eq!(answer.status, 401, "{method} {path} with {auth:?}");
                    assert!(answer.json()["error"].as_str().is_some(), "{method} {path}");
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} protected routes walked");
    // Nothing was changed by all those refused requests.
    let p = admin
        .db
        .get_product(id)
        .await
        .expect("get")
        .expect("still there");
    assert_eq!((p.name.as_str(), p.stock), ("Pocket Phone", 5));
    assert_eq!(admin.db.count_products().await.expect("count"), 1);
}

#[tokio::test]
async fn public_routes_are_only_the_login_and_its_assets() {
    let admin = Admin::start().await;
    let css = admin.get("/static/admin.css", "").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert_eq!(admin.get("/static/../Cargo.toml", "").await.status, 404);
    assert_eq!(admin.get("/static/nope.js", "").await.status, 404);
    let login = admin.get("/login", "").await;
    assert!(login
        .header("content-security-policy")
        .contains("script-src 'self'"));
    assert_eq!(login.header("x-frame-options"), "DENY");
    // An unknown path is a 404, not a page.
    assert_eq!(admin.get("/nope", "").await.status, 404);
}

/// Regression (issue 14, finding 11): the admin had no health check; DESIGN says `GET
/// /healthz` answers 200 without credentials.
#[tokio::test]
async fn finding_11_healthz_answers_without_credentials() {
    let admin = Admin::start().await;
    let answer = admin.get("/healthz", "").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "ok");
}
