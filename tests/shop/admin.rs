//! `flashsale up` starts the back-office too: it prints the admin's address and, on the first
//! run only, the generated password and API token, which then work.

use std::process::{Child, Command, Stdio};

/// `flashsale up` in `dir` on free ports; its stdout up to the "Ctrl-C" line of the banner,
/// and the addresses of its gateway and admin.
fn up(dir: &std::path::Path) -> (Child, String, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flashsale"))
        .arg("up")
        .current_dir(dir)
        .env("FLASHSALE_GATEWAY_LISTEN", "127.0.0.1:0")
        .env("FLASHSALE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("FLASHSALE_GATEWAY_THREADS", "1")
        .env_remove("FLASHSALE_ADMIN_PASSWORD")
        .env_remove("FLASHSALE_ADMIN_TOKEN")
        .env_remove("FLASHSALE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("flashsale up starts");
    let started = flashsale_testkit::read_until(&mut child, "Ctrl-C")
        .unwrap_or_else(|printed| panic!("flashsale up did not come up:\n{printed}"));
    let (gateway, admin) = (started.addr("gateway"), started.addr("admin"));
    (child, started.printed, gateway, admin)
}

fn stop(child: &mut Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "flashsale up exits cleanly on SIGTERM: {status}"
    );
}

/// The value after `label` on its line of the banner.
fn after<'a>(banner: &'a str, label: &str) -> Option<&'a str> {
    banner
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
}

#[tokio::test]
async fn up_starts_the_admin_and_prints_its_credentials_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, banner, _, admin) = up(dir.path());
    let admin_url = format!("http://{admin}");
    assert!(
        banner.contains(&format!("Admin:    {admin_url}/  (user admin)")),
        "{banner}"
    );
    let password = after(&banner, "password:").expect("a first run prints the password");
    let token_line = after(&banner, "API:").expect("the API line");
    let token = token_line
        .rsplit("Bearer ")
        .next()
        .expect("a first run prints the token");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data/admin_token")).expect("token file"),
        token
    );
    let hash =
        std::fs::read_to_string(dir.path().join("data/admin_password.argon2")).expect("hash file");
    assert!(!hash.contains(password), "only the hash is kept");

    // The printed password logs in through the real form; the token opens the API.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let form = browser
        .get(format!("{admin_url}/login"))
        .send()
        .await
        .expect("login form")
        .text()
        .await
        .expect("page");
    let marker = "name=\"csrf\" value=\"";
    let start = form.find(marker).expect("csrf field") + marker.len();
    let csrf = &form[start..start + form[start..].find('"').expect("quote")];
    let dashboard = browser
        .post(format!("{admin_url}/login"))
        .form(&[("user", "admin"), ("password", password), ("csrf", csrf)])
        .send()
        .await
        .expect("log in");
    assert_eq!(dashboard.status(), 200, "followed to the dashboard");
    assert!(dashboard
        .text()
        .await
        .expect("page")
        .contains("<h1>Dashboard</h1>"));
    let products: serde_json::Value = reqwest::Client::new()
        .get(format!("{admin_url}/api/products"))
        .bearer_auth(token)
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    assert!(
        !products.as_array().expect("array").is_empty(),
        "the demo catalogue"
    );
    stop(&mut child);

    // The second run shows no secret.
    let (mut child, banner, _, _) = up(dir.path());
    assert!(!banner.contains(password), "{banner}");
    assert!(!banner.contains(token), "{banner}");
    assert!(banner.contains("as printed on the first run"), "{banner}");
    stop(&mut child);
}

/// Regression: Republish answered before the gateway served the new page (it polls `dist/`
/// every 250 ms), so a page opened right after "Republished" could still be missing. In one
/// process the answer now waits until the gateway serves it.
#[tokio::test]
async fn a_page_republished_in_up_is_served_as_soon_as_republish_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, banner, gateway, admin) = up(dir.path());
    let token = after(&banner, "API:")
        .and_then(|line| line.rsplit("Bearer ").next())
        .expect("a first run prints the token")
        .to_string();
    let api = reqwest::Client::new();
    let admin_url = format!("http://{admin}");
    let created: serde_json::Value = api
        .post(format!("{admin_url}/api/products"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "name": "Republished Runner", "stock": 5, "price": "10.00",
            "image": "/static/img/sneakers.svg", "description": "New.",
            "saleStart": null, "saleEnd": null
        }))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_i64().expect("id");
    // Each edit is published and fetched at once, several times: one 250 ms poll would let
    // most of them through late.
    for round in 0..5 {
        let name = format!("Republished Runner {round}");
        let edited = api
            .put(format!("{admin_url}/api/products/{id}"))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "name": name, "stock": 5, "price": "10.00",
                "image": "/static/img/sneakers.svg", "description": "New.",
                "saleStart": null, "saleEnd": null
            }))
            .send()
            .await
            .expect("edit");
        assert_eq!(edited.status(), 200);
        let published: serde_json::Value = api
            .post(format!("{admin_url}/api/publish"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("publish")
            .json()
            .await
            .expect("json");
        assert_eq!(published["live"], true, "{published}");
        let page = api
            .get(format!("http://{gateway}/product/{id}.html"))
            .send()
            .await
            .expect("page");
        assert_eq!(page.status(), 200, "round {round}");
        let html = page.text().await.expect("html");
        assert!(
            html.contains(&name),
            "round {round}: the page still shows an old name"
        );
    }
    stop(&mut child);
}

/// Logged-in staff stay logged in across a restart of `flashsale up`: the session lives in
/// the database (only its token's hash), not in the process.
#[tokio::test]
async fn an_admin_session_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let password = "a long admin password";
    let env = vec![
        ("FLASHSALE_ADMIN_PASSWORD", password.to_string()),
        (
            "FLASHSALE_COOKIE_SECRET",
            flashsale_core::config::random_secret(),
        ),
    ];
    let mut shop = crate::util::UpProcess::start(dir.path(), &env);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let form = browser
        .get(format!("{}/login", shop.admin_url))
        .send()
        .await
        .expect("login form")
        .text()
        .await
        .expect("page");
    let marker = "name=\"csrf\" value=\"";
    let start = form.find(marker).expect("csrf field") + marker.len();
    let csrf = &form[start..start + form[start..].find('"').expect("quote")];
    let login = browser
        .post(format!("{}/login", shop.admin_url))
        .form(&[("user", "admin"), ("password", password), ("csrf", csrf)])
        .send()
        .await
        .expect("log in");
    assert_eq!(login.status(), 303, "logged in");
    let session = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix("fs_admin=")
                .map(|rest| rest.split(';').next().unwrap_or("").to_string())
        })
        .expect("a session cookie");
    let dashboard = |url: String, session: String| async move {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(format!("{url}/"))
            .header("Cookie", format!("fs_admin={session}"))
            .send()
            .await
            .expect("dashboard")
    };
    assert_eq!(
        dashboard(shop.admin_url.clone(), session.clone())
            .await
            .status(),
        200
    );

    shop.stop();
    let shop = crate::util::UpProcess::start(dir.path(), &env);
    let after = dashboard(shop.admin_url.clone(), session.clone()).await;
    assert_eq!(
        after.status(),
        200,
        "the session cookie still works after a restart"
    );
    assert!(after
        .text()
        .await
        .expect("page")
        .contains("<h1>Dashboard</h1>"));
    // A made-up session is still sent to the login page.
    let forged = dashboard(shop.admin_url.clone(), "0".repeat(64)).await;
    assert_eq!(forged.status(), 303);
    // The database holds only the token's hash.
    let db = flashsale_core::Db::connect(&format!(
        "sqlite://{}/data/flashsale.db",
        dir.path().display()
    ))
    .await
    .expect("connect");
    assert!(db
        .admin_session(&session, 0)
        .await
        .expect("lookup")
        .is_none());
    db.close().await;
}
