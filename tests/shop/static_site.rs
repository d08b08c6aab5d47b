use crate::util::{product, raw, TestShop};
use flashsale_core::domain::NewProduct;

#[tokio::test]
async fn pages_are_served_with_types_and_caching() {
    let shop = TestShop::start(&[product("Phone", 5)], 10).await;
    let pid = shop.product_ids[0];
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        (
            &format!("/product/{pid}.html") as &str,
            "text/html; charset=utf-8",
        ),
        ("/user/login", "text/html; charset=utf-8"),
        ("/user/register", "text/html; charset=utf-8"),
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/buy.js", "text/javascript; charset=utf-8"),
        ("/static/img/phone.svg", "image/svg+xml"),
    ] {
        let r = reqwest::get(format!("{}{path}", shop.url))
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], content_type, "{path}");
        assert!(r.headers().contains_key("etag"), "{path}");
        assert!(r.headers().contains_key("cache-control"), "{path}");
    }

    // The product page carries the Buy button wired to the product.
    let page = reqwest::get(format!("{}/product/{pid}.html", shop.url))
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(
        page.contains(&format!("data-product-id=\"{pid}\"")),
        "{page}"
    );
    assert!(page.contains("id=\"buy\""));

    // Revalidation with the ETag is a 304 without a body.
    let client = reqwest::Client::new();
    let first = client
        .get(format!("{}/", shop.url))
        .send()
        .await
        .expect("get");
    let etag = first.headers()["etag"].clone();
    let again = client
        .get(format!("{}/", shop.url))
        .header("If-None-Match", etag)
        .send()
        .await
        .expect("get");
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.expect("body").is_empty());

    // HEAD: the headers of GET, no body.
    let head = client
        .head(format!("{}/", shop.url))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 200);
    assert!(
        head.headers()["content-length"]
            .to_str()
            .expect("ascii")
            .parse::<usize>()
            .expect("n")
            > 0
    );
}

#[tokio::test]
async fn html_in_product_names_is_escaped_in_the_served_pages() {
    let evil = NewProduct {
        name: "<script>alert(1)</script>".into(),
        description: "<img src=x onerror=alert(2)>".into(),
        ..product("x", 5)
    };
    let shop = TestShop::start(&[evil], 10).await;
    let pid = shop.product_ids[0];
    for path in ["/".to_string(), format!("/product/{pid}.html")] {
        let page = reqwest::get(format!("{}{path}", shop.url))
            .await
            .expect("get")
            .text()
            .await
            .expect("body");
        assert!(
            !page.contains("<script>alert(1)"),
            "{path} holds raw script"
        );
        assert!(!page.contains("<img src=x"), "{path} holds raw img");
        assert!(
            page.contains("&lt;script&gt;alert(1)"),
            "{path} lacks the escaped name"
        );
    }
}

#[tokio::test]
async fn nothing_outside_dist_is_served() {
    let shop = TestShop::start(&[product("Phone", 5)], 10).await;
    // A file next to dist/ that must never be reachable.
    std::fs::write(shop.config.dist.join("../secret.txt"), "TOP SECRET").expect("write");
    let addr = shop.config.gateway_listen.clone();
    for path in [
        "/../secret.txt",
        "/../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/static/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/static\\..\\..\\secret.txt",
        "/index.html%00.txt",
        "/%00",
        "/.%2e/secret.txt",
        "/data/cookie_secret",
        "/../data/cookie_secret",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (status, text) = raw(&addr, &request).await;
        assert!(status == 404 || status == 400, "{path} answered {status}");
        assert!(
            !text.contains("TOP SECRET") && !text.contains("root:"),
            "{path} leaked: {text}"
        );
    }
}

#[tokio::test]
async fn unknown_pages_get_the_site_404() {
    let shop = TestShop::start(&[], 10).await;
    let r = reqwest::get(format!("{}/product/12345.html", shop.url))
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    let r = reqwest::Client::new()
        .put(format!("{}/", shop.url))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn a_republish_is_served_without_a_restart_compressed_when_accepted() {
    let shop = TestShop::start(&[product("Phone", 5)], 10).await;
    let id = shop.product_ids[0];
    let url = format!("{}/product/{id}.html", shop.url);
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .expect("client");

    let br = client
        .get(&url)
        .header("Accept-Encoding", "br")
        .send()
        .await
        .expect("get");
    assert_eq!(br.headers()["content-encoding"], "br");
    assert_eq!(br.headers()["vary"], "Accept-Encoding");
    let head = client
        .head(&url)
        .header("Accept-Encoding", "br")
        .send()
        .await
        .expect("head");
    assert_eq!(
        head.headers()["content-length"],
        br.bytes().await.expect("body").len().to_string().as_str(),
        "HEAD announces the length GET sends"
    );

    // The shop staff rename the product and republish: the running gateway serves it.
    let mut products = shop.db().list_products().await.expect("products");
    products[0].name = "Phone, now in blue".into();
    flashsale_sitegen::render_site(&products, &flashsale::stack::site_options(&shop.config))
        .expect("republish");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let page = client
            .get(&url)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        if page.contains("Phone, now in blue") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the republish was not picked up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Regression (issue 14, finding 7): deleting `dist/` while the gateway ran made every page
/// 404 within a quarter of a second. Now the gateway keeps serving its last good site.
#[tokio::test]
async fn finding_7_pages_are_still_served_after_dist_is_removed() {
    let shop = TestShop::start(&[product("Phone", 5)], 10).await;
    let page = format!("{}/product/{}.html", shop.url, shop.product_ids[0]);
    assert_eq!(reqwest::get(&page).await.expect("get").status(), 200);
    std::fs::remove_dir_all(&shop.config.dist).expect("remove dist");
    // The gateway looks at dist/ every 250 ms: watch for a second and more.
    let until = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    while std::time::Instant::now() < until {
        for url in [format!("{}/", shop.url), page.clone()] {
            let r = reqwest::get(&url).await.expect("get");
            assert_eq!(r.status(), 200, "{url} after dist/ was removed");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
