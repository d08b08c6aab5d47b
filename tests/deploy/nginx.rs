//! Debian's nginx with `deploy/nginx.conf` in front of a running gateway: the static site as
//! the gateway serves it, and the dynamic paths answered by the gateway through nginx.

use crate::util::{Nginx, Ring, Shop};
use flashsale_testkit::{free_port, TcpProxy};
use reqwest::cookie::CookieStore;
use reqwest::header::HeaderMap;
use reqwest::{Client, Response};
use std::path::Path;
use std::time::Duration;

fn plain_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A browser: keeps cookies, does not follow redirects (the tests check them).
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get(client: &Client, url: &str, accept_encoding: Option<&str>) -> Response {
    let mut request = client.get(url);
    if let Some(encodings) = accept_encoding {
        request = request.header("Accept-Encoding", encodings);
    }
    request.send().await.expect("GET")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// What a client sees of a static answer, to compare nginx's with the gateway's.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    content_type: Option<String>,
    cache_control: Option<String>,
    body: Vec<u8>,
}

async fn seen(client: &Client, url: &str) -> Seen {
    let r = get(client, url, None).await;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    Seen {
        status,
        content_type: header(&headers, "content-type").map(String::from),
        cache_control: header(&headers, "cache-control").map(String::from),
        body: r.bytes().await.expect("body").to_vec(),
    }
}

/// A content-hashed asset of the rendered site: `static/<stem>.<16 lowercase hex>.<ext>`.
fn hashed_asset(dist: &Path) -> Option<String> {
    let is_hash =
        |s: &str| s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    std::fs::read_dir(dist.join("static"))
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|name| {
            let parts: Vec<&str> = name.split('.').collect();
            parts.len() == 3 && is_hash(parts[1])
        })
        .map(|name| format!("/static/{name}"))
}

#[tokio::test]
async fn static_pages_are_the_gateways_bytes_and_types() {
    let shop = Shop::start().await;
    let nginx = Nginx::start(&shop.dist, std::slice::from_ref(&shop.addr)).await;
    let client = plain_client();
    let product = format!("/product/{}.html", shop.product_id);
    for path in [
        "/",
        product.as_str(),
        "/user/login",
        "/user/register",
        "/static/style.css",
        "/static/img/phone.svg",
    ] {
        let from_nginx = seen(&client, &format!("{}{path}", nginx.url)).await;
        let from_gateway = seen(&client, &format!("{}{path}", shop.url)).await;
        assert_eq!(from_nginx.status, 200, "{path} through nginx");
        assert_eq!(from_nginx.body, from_gateway.body, "{path}: other bytes");
        assert_eq!(
            from_nginx.content_type, from_gateway.content_type,
            "{path}: another Content-Type"
        );
    }
    let page = seen(&client, &format!("{}{product}", nginx.url)).await;
    let page = String::from_utf8_lossy(&page.body);
    assert!(
        page.contains("Phone") && page.contains("id=\"buy\""),
        "{page}"
    );

    // Anything else is the site's 404 page, never cached.
    let not_found = std::fs::read(shop.dist.join("404.html")).expect("404.html");
    // Hidden files too: sitegen keeps its manifest and lock under `.flashsale/`.
    for path in [
        "/nope",
        "/product/999.html",
        "/static/",
        "/.hidden",
        "/.flashsale/manifest.txt",
    ] {
        let from_nginx = seen(&client, &format!("{}{path}", nginx.url)).await;
        assert_eq!(from_nginx.status, 404, "{path} through nginx");
        assert_eq!(
            from_nginx.cache_control.as_deref(),
            Some("no-cache"),
            "{path}"
        );
        assert_eq!(
            from_nginx.body, not_found,
            "{path}: not the site's 404 page"
        );
    }
    // Nothing outside dist/: the shop's database lies right beside it. nginx refuses some of
    // these as bad requests (400) before looking.
    for path in [
        "/../shop.db",
        "/%2e%2e/shop.db",
        "/product/..%2f..%2fshop.db",
        "/product/%2e%2e/%2e%2e/shop.db",
    ] {
        let from_nginx = seen(&client, &format!("{}{path}", nginx.url)).await;
        assert!(
            [400, 404].contains(&from_nginx.status),
            "{path} through nginx: {}",
            from_nginx.status
        );
        assert!(
            !from_nginx.body.starts_with(b"SQLite format"),
            "{path} served the database"
        );
    }
    let from_gateway = seen(&client, &format!("{}/nope", shop.url)).await;
    let from_nginx = seen(&client, &format!("{}/nope", nginx.url)).await;
    assert_eq!(from_nginx.cache_control, from_gateway.cache_control);
}

const PAGE: &str = "public, max-age=10";
const OTHER: &str = "public, max-age=300";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Files nginx's rules are checked on whatever sitegen renders today: a content-hashed asset,
/// a sitemap, and `X.gz`/`X.br` siblings whose bytes are marked, so the test sees that nginx
/// sends the sibling as it is and never compresses on the fly.
fn add_contract_files(dist: &Path) -> Vec<&'static str> {
    let write = |name: &str, bytes: &[u8]| std::fs::write(dist.join(name), bytes).expect("write");
    write("static/test.0123456789abcdef.css", b"body{}");
    write("sitemap.xml", b"<urlset/>");
    let texts = vec!["index.html", "user/login.html", "static/style.css"];
    for file in &texts {
        write(&format!("{file}.gz"), format!("gzip of {file}").as_bytes());
        write(
            &format!("{file}.br"),
            format!("brotli of {file}").as_bytes(),
        );
    }
    texts
}

#[tokio::test]
async fn nginx_sends_the_cache_contract() {
    let shop = Shop::start().await;
    add_contract_files(&shop.dist);
    let nginx = Nginx::start(&shop.dist, std::slice::from_ref(&shop.addr)).await;
    let client = plain_client();
    let product = format!("/product/{}.html", shop.product_id);
    for (path, contract) in [
        ("/", PAGE),
        ("/index.html", PAGE),
        (product.as_str(), PAGE),
        ("/user/login", PAGE),
        ("/sitemap.xml", PAGE),
        ("/static/img/phone.svg", OTHER),
        ("/static/style.css", OTHER),
        ("/static/favicon.svg", OTHER),
        ("/static/test.0123456789abcdef.css", IMMUTABLE),
    ] {
        let from_nginx = seen(&client, &format!("{}{path}", nginx.url)).await;
        assert_eq!(from_nginx.status, 200, "{path} through nginx");
        assert_eq!(
            from_nginx.cache_control.as_deref(),
            Some(contract),
            "{path}"
        );
    }
    std::fs::write(shop.dist.join("static/x.0123456789ABCDEF.css"), "a").expect("write");
    let capitals = seen(
        &client,
        &format!("{}/static/x.0123456789ABCDEF.css", nginx.url),
    )
    .await;
    assert_eq!(
        capitals.cache_control.as_deref(),
        Some(OTHER),
        "not a lowercase hash"
    );
}

#[tokio::test]
async fn precompressed_siblings_are_sent_as_they_are() {
    let shop = Shop::start().await;
    let texts = add_contract_files(&shop.dist);
    let nginx = Nginx::start(&shop.dist, std::slice::from_ref(&shop.addr)).await;
    let client = plain_client();
    for file in texts {
        let url = format!("{}/{file}", nginx.url);
        let plain = std::fs::read(shop.dist.join(file)).expect("the rendered file");
        for (accept, encoding, expected) in [
            (None, None, plain.clone()),
            (
                Some("gzip"),
                Some("gzip"),
                format!("gzip of {file}").into_bytes(),
            ),
            (
                Some("br"),
                Some("br"),
                format!("brotli of {file}").into_bytes(),
            ),
            (
                Some("gzip, deflate, br"),
                Some("br"),
                format!("brotli of {file}").into_bytes(),
            ),
        ] {
            let r = get(&client, &url, accept).await;
            assert_eq!(r.status(), 200, "{file} {accept:?}");
            let headers = r.headers().clone();
            assert_eq!(
                header(&headers, "content-encoding"),
                encoding,
                "{file} {accept:?}"
            );
            let vary = header(&headers, "vary").unwrap_or("");
            assert!(
                vary.eq_ignore_ascii_case("accept-encoding"),
                "{file} {accept:?}: Vary is {vary:?}"
            );
            let body = r.bytes().await.expect("body");
            assert!(
                body[..] == expected[..],
                "{file} {accept:?}: not the file's bytes"
            );
        }
    }
    // A file without siblings: as it is, and no Vary (nothing to vary on).
    std::fs::write(shop.dist.join("static/alone.svg"), "<svg/>").expect("write");
    let r = get(
        &client,
        &format!("{}/static/alone.svg", nginx.url),
        Some("gzip, br"),
    )
    .await;
    assert_eq!(header(r.headers(), "content-encoding"), None);
    assert_eq!(header(r.headers(), "vary"), None);
}

// nginx sends the gateway's cache contract (`gateway/src/static_files.rs`) for every kind of file.
#[tokio::test]
async fn cache_headers_are_the_gateways() {
    let shop = Shop::start().await;
    let nginx = Nginx::start(&shop.dist, std::slice::from_ref(&shop.addr)).await;
    let client = plain_client();
    let product = format!("/product/{}.html", shop.product_id);
    let asset = hashed_asset(&shop.dist).unwrap_or_else(|| {
        panic!(
            "no content-hashed asset (static/<stem>.<16 hex>.<ext>) in {}",
            shop.dist.display()
        )
    });
    for (path, contract) in [
        ("/", PAGE),
        (product.as_str(), PAGE),
        ("/user/login", PAGE),
        ("/sitemap.xml", PAGE),
        ("/static/img/phone.svg", OTHER),
        ("/static/favicon.svg", OTHER),
        (asset.as_str(), IMMUTABLE),
    ] {
        let from_nginx = seen(&client, &format!("{}{path}", nginx.url)).await;
        let from_gateway = seen(&client, &format!("{}{path}", shop.url)).await;
        assert_eq!(from_gateway.status, 200, "{path} from the gateway");
        assert_eq!(from_nginx.status, 200, "{path} through nginx");
        assert_eq!(
            from_nginx.cache_control.as_deref(),
            Some(contract),
            "{path}"
        );
        assert_eq!(
            from_nginx.cache_control, from_gateway.cache_control,
            "{path}: nginx and the gateway disagree"
        );
    }
}

// sitegen writes X.gz and X.br beside every text file X; nginx sends them as they are, with
// `Vary: Accept-Encoding`, exactly as the gateway does.
#[tokio::test]
async fn the_rendered_site_is_sent_compressed_like_the_gateway_does() {
    let shop = Shop::start().await;
    let nginx = Nginx::start(&shop.dist, std::slice::from_ref(&shop.addr)).await;
    let client = plain_client();
    let product = format!("product/{}.html", shop.product_id);
    for file in [product.as_str(), "index.html", "static/style.css"] {
        for (accept, encoding, extension) in [
            (Some("gzip"), "gzip", "gz"),
            (Some("gzip, deflate, br"), "br", "br"),
        ] {
            let sibling = shop.dist.join(format!("{file}.{extension}"));
            let expected = std::fs::read(&sibling)
                .unwrap_or_else(|e| panic!("sitegen did not write {}: {e}", sibling.display()));
            let r = get(&client, &format!("{}/{file}", nginx.url), accept).await;
            assert_eq!(
                header(r.headers(), "content-encoding"),
                Some(encoding),
                "{file}"
            );
            assert!(
                r.bytes().await.expect("body")[..] == expected[..],
                "{file} {encoding}"
            );

            let from_gateway = get(&client, &format!("{}/{file}", shop.url), accept).await;
            let headers = from_gateway.headers();
            assert_eq!(
                header(headers, "content-encoding"),
                Some(encoding),
                "{file} {accept:?} from the gateway"
            );
            assert!(
                header(headers, "vary")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
                "{file} from the gateway without Vary: Accept-Encoding"
            );
        }
    }
}

#[tokio::test]
async fn the_dynamic_paths_are_answered_by_the_gateway() {
    let shop = Shop::start().await;
    let nginx = Nginx::start(&shop.dist, std::slice::from_ref(&shop.addr)).await;
    let client = plain_client();

    let r = client
        .post(format!(
            "{}/getOne?productID={}",
            nginx.url, shop.product_id
        ))
        .send()
        .await
        .expect("buy");
    assert_eq!(r.status(), 401, "a Buy without cookies");
    let body: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(body["result"], "unauthorized");

    let r = get(&client, &format!("{}/getOne", nginx.url), None).await;
    assert_eq!(r.status(), 405, "GET /getOne is the gateway's 405");

    let r = get(&client, &format!("{}/healthz", nginx.url), None).await;
    assert_eq!(r.status(), 200);

    let r = get(
        &client,
        &format!("{}/stock/{}", nginx.url, shop.product_id),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let stock: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(stock["remaining"], 5, "{stock}");

    let r = get(&client, &format!("{}/order/0123", nginx.url), None).await;
    assert_eq!(r.status(), 401, "an order without cookies");
}

#[tokio::test]
async fn a_shopper_registers_logs_in_and_buys_through_nginx() {
    let shop = Shop::start().await;
    let nginx = Nginx::start(&shop.dist, std::slice::from_ref(&shop.addr)).await;
    let browser = browser();

    let r = browser
        .post(format!("{}/user/register", nginx.url))
        .form(&[
            ("nickName", "Ada"),
            ("userName", "ada"),
            ("password", "correct horse"),
        ])
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 303);
    assert_eq!(header(r.headers(), "location"), Some("/user/login"));

    let r = browser
        .post(format!("{}/user/login", nginx.url))
        .form(&[("userName", "ada"), ("password", "correct horse")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    for name in ["uid", "sign"] {
        let cookie = cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie through nginx: {cookies:?}"));
        assert!(cookie.contains("HttpOnly"), "{cookie}");
    }

    // The cookies go back through nginx to the gateway, which sells one unit.
    let buy = format!("{}/getOne?productID={}", nginx.url, shop.product_id);
    let r = browser.post(&buy).send().await.expect("buy");
    assert_eq!(r.status(), 202);
    let queued: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(queued["result"], "queued", "{queued}");
    let order_id = queued["orderId"].as_str().expect("orderId").to_string();

    // The cooldown answer keeps its Retry-After header through nginx.
    let r = browser.post(&buy).send().await.expect("buy again");
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));

    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        let r = get(&browser, &format!("{}/order/{order_id}", nginx.url), None).await;
        assert_eq!(r.status(), 200, "the shopper's own order");
        status = r.json().await.expect("JSON");
        if status["status"] == "confirmed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status["status"], "confirmed", "{status}");
    assert_eq!(status["productId"], shop.product_id);

    // My orders comes from the gateway through nginx too (the page /orders.html is static).
    let r = get(&browser, &format!("{}/orders", nginx.url), None).await;
    assert_eq!(r.status(), 200, "the shopper's orders");
    let mine: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(mine["orders"][0]["orderId"], order_id.as_str(), "{mine}");

    let r = browser
        .post(format!("{}/user/logout", nginx.url))
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    let r = browser.post(&buy).send().await.expect("buy after logout");
    assert_eq!(r.status(), 401, "logged out: the cookies were cleared");
}

#[tokio::test]
async fn nginx_reuses_connections_and_passes_over_a_dead_gateway() {
    let shop = Shop::start().await;
    // Counts the connections nginx opens to the gateway.
    let counted = TcpProxy::start(&shop.addr).await;
    // A ring member that is down: nothing listens there (a port free now; nobody binds it).
    let dead = format!("127.0.0.1:{}", free_port());
    let nginx = Nginx::start(&shop.dist, &[dead, counted.host_port()]).await;
    let client = plain_client();
    let requests = 40;
    for i in 0..requests {
        let r = client
            .post(format!(
                "{}/getOne?productID={}",
                nginx.url, shop.product_id
            ))
            .send()
            .await
            .expect("buy");
        assert_eq!(r.status(), 401, "request {i}: answered by the live gateway");
    }
    let opened = counted.connections();
    assert!(
        opened <= 4,
        "{requests} requests opened {opened} connections to the gateway: keepalive is not used"
    );
}

#[tokio::test]
async fn the_gateway_gets_the_shoppers_address_and_cookies_on_a_kept_alive_connection() {
    // A stand-in gateway that records the request nginx sends it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = listener.local_addr().expect("address").to_string();
    let recorded = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut stream, _) = listener.accept().await.expect("nginx connects");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).await.expect("request head");
            head.push(byte[0]);
        }
        stream
            .write_all(
                b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\
                  Set-Cookie: seen=1; Path=/; HttpOnly\r\n\r\n{}",
            )
            .await
            .expect("answer");
        String::from_utf8_lossy(&head).to_ascii_lowercase()
    });
    let dist = tempfile::tempdir().expect("tempdir");
    let nginx = Nginx::start(dist.path(), &[upstream]).await;
    let r = plain_client()
        .post(format!("{}/getOne?productID=7", nginx.url))
        .header("Cookie", "uid=7; sign=token")
        .send()
        .await
        .expect("buy");
    assert_eq!(r.status(), 202);
    assert_eq!(
        header(r.headers(), "set-cookie"),
        Some("seen=1; Path=/; HttpOnly"),
        "the gateway's cookie comes back"
    );
    let head = recorded.await.expect("the stand-in gateway");
    assert!(
        head.starts_with("post /getone?productid=7 http/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\ncookie: uid=7; sign=token\r\n"), "{head}");
    assert!(
        head.contains("\r\nx-forwarded-for: 127.0.0.1\r\n"),
        "{head}"
    );
    assert!(
        !head.contains("connection: close"),
        "nginx asks to close its connection to the gateway: {head}"
    );
}

/// Regression (issue 14, finding 10): shop pages went out without `X-Content-Type-Options`, a
/// CSP or `Referrer-Policy`. Now the gateway sends them, and nginx sends the same for every
/// static answer (the 404 page included).
#[tokio::test]
async fn finding_10_security_headers_are_the_gateways_on_every_page() {
    let shop = Shop::start().await;
    let nginx = Nginx::start(&shop.dist, std::slice::from_ref(&shop.addr)).await;
    let client = plain_client();
    let product = format!("/product/{}.html", shop.product_id);
    for path in [
        "/",
        product.as_str(),
        "/user/login",
        "/static/style.css",
        "/nope",
    ] {
        let from_gateway = get(&client, &format!("{}{path}", shop.url), None).await;
        let from_nginx = get(&client, &format!("{}{path}", nginx.url), None).await;
        for name in [
            "x-content-type-options",
            "content-security-policy",
            "referrer-policy",
        ] {
            let gateway_value = header(from_gateway.headers(), name).map(String::from);
            assert!(
                gateway_value.is_some(),
                "{path}: the gateway sends no {name}"
            );
            assert_eq!(
                header(from_nginx.headers(), name).map(String::from),
                gateway_value,
                "{path}: {name}"
            );
        }
    }
}

/// A browser whose cookies the test can also set by hand.
fn browser_with(jar: &std::sync::Arc<reqwest::cookie::Jar>) -> Client {
    Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Registers and logs in `name` through `url`.
async fn signed_in(client: &Client, url: &str, name: &str) {
    let r = client
        .post(format!("{url}/user/register"))
        .form(&[
            ("nickName", name),
            ("userName", name),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 303, "register {name}");
    let r = client
        .post(format!("{url}/user/login"))
        .form(&[("userName", name), ("password", "correct horse battery")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303, "log in {name}");
}

/// With a ring of three gateways behind nginx, each shopper's Buy goes straight to the node
/// that owns them: the gateways name it in the `owner` cookie and nginx routes on it, so no
/// Buy takes the second hop between gateways. A stale or forged cookie costs one forward,
/// and the answer puts the right owner back.
#[tokio::test]
async fn behind_nginx_each_buy_goes_straight_to_its_owner() {
    let ring = Ring::start(1_000).await;
    let nginx = Nginx::start(&ring.dist, &ring.nodes).await;
    let buy = format!("{}/getOne?productID={}", nginx.url, ring.product_id);
    let forwards = "flashsale_forwarded_requests_total";
    let queued = "flashsale_buy_requests_total{result=\"queued\"}";

    let shoppers = 60;
    let mut clients = Vec::new();
    for i in 0..shoppers {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let client = browser_with(&jar);
        signed_in(&client, &nginx.url, &format!("owner{i}")).await;
        clients.push((jar, client));
    }
    let before = ring.counter(forwards).await;
    for (_, client) in &clients {
        let r = client.post(&buy).send().await.expect("buy");
        assert_eq!(r.status(), 202);
    }
    let forwarded = ring.counter(forwards).await - before;
    assert_eq!(
        ring.counter(queued).await,
        shoppers,
        "every Buy decided once"
    );
    assert_eq!(
        forwarded, 0,
        "{forwarded} of {shoppers} Buys took a second hop behind nginx"
    );

    // A cookie naming another node (the ring changed, or a shopper edited it): that node
    // forwards once, and the answer names the real owner again.
    let (jar, client) = &clients[0];
    let url: reqwest::Url = nginx.url.parse().expect("url");
    let owner = jar
        .cookies(&url)
        .and_then(|h| {
            h.to_str()
                .ok()?
                .split("; ")
                .find_map(|c| c.strip_prefix("owner=").map(String::from))
        })
        .expect("an owner cookie from the login");
    assert!(ring.nodes.contains(&owner), "{owner} is a ring member");
    let other = ring
        .nodes
        .iter()
        .find(|n| **n != owner)
        .expect("another node");
    jar.add_cookie_str(&format!("owner={other}; Path=/"), &url);
    let before = ring.counter(forwards).await;
    let r = client.post(&buy).send().await.expect("buy");
    assert_eq!(r.status(), 429, "decided by the owner, whose cooldown runs");
    let reset: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect();
    assert!(
        reset
            .iter()
            .any(|c| c.starts_with(&format!("owner={owner};"))),
        "{reset:?}"
    );
    assert_eq!(ring.counter(forwards).await - before, 1);
    let before = ring.counter(forwards).await;
    let r = client.post(&buy).send().await.expect("buy");
    assert_eq!(r.status(), 429);
    assert_eq!(
        ring.counter(forwards).await - before,
        0,
        "straight to the owner again"
    );
    drop(nginx);
    ring.stop().await;
}
