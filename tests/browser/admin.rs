//! An admin logs in with the password the first run printed, adds a product, republishes,
//! and the product page the gateway serves shows it.

use crate::shop::{product, TestShop};
use crate::util::Browser;
use flashsale::stack::{start_admin, RunningAdmin};

#[tokio::test]
async fn an_admin_adds_a_product_republishes_and_the_shop_shows_it() {
    let shop = TestShop::start(&[product("Pocket Phone", 5)], 10).await;
    let (admin, password) = admin_beside(&shop).await;
    let browser = Browser::start().await;

    // Every admin page sends a stranger to the login form.
    browser.goto(&format!("{}/products", admin.url)).await;
    browser.wait_for_path("/login").await;
    browser.fill("#user", "admin").await;
    browser.fill("#password", "not the password").await;
    browser.click("#login").await;
    browser
        .wait_for_text("#login-error", "the login error", |t| {
            t == "Wrong user name or password."
        })
        .await;
    browser.fill("#user", "admin").await;
    browser.fill("#password", &password).await;
    browser.click("#login").await;
    browser.wait_for_path("/").await;
    browser.find("#chart").await;
    browser.screenshot("admin-dashboard").await;

    // Products -> Add: a mistake first, then the right values.
    browser.click("a[href='/products']").await;
    browser.click("#add-product").await;
    let name = "Trail Runner <Limited>";
    browser.fill("#name", name).await;
    browser.fill("#stock", "-2").await;
    browser.fill("#price", "59.90").await;
    browser.fill("#image", "/static/img/sneakers.svg").await;
    browser
        .fill("#description", "Light, fast, and gone in a minute.")
        .await;
    browser.click("#save").await;
    browser
        .wait_for_text("#error-stock", "the stock error", |t| {
            t == "Stock cannot be negative."
        })
        .await;
    browser.screenshot("admin-product-form-errors").await;
    browser.fill("#stock", "25").await;
    browser.click("#save").await;
    let flash = browser
        .wait_for_text("#flash", "the saved message", |t| t.contains("added"))
        .await;
    let id: i64 = flash
        .trim_start_matches("Product ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no id in {flash:?}"));
    let row = browser
        .text(&format!("#products tr[data-id='{id}'] .name"))
        .await;
    assert_eq!(row, name, "the name is shown as typed, not as HTML");
    browser.screenshot("admin-products").await;

    // Republish: the new page is listed among what changed.
    browser.click("a[href='/publish']").await;
    browser.click("#publish").await;
    let changed = browser
        .wait_for_text("#changed", "the changed pages", |t| !t.is_empty())
        .await;
    assert!(
        changed.lines().any(|l| l == format!("product/{id}.html")),
        "{changed}"
    );
    assert!(changed.lines().any(|l| l == "index.html"), "{changed}");
    browser.screenshot("admin-republished").await;

    // In one process Republish answers once the gateway serves the new page: no waiting.
    assert_eq!(
        browser.text("#live").await,
        "The shop serves the new pages now."
    );
    browser
        .goto(&format!("{}/product/{id}.html", shop.url))
        .await;
    assert_eq!(browser.text("h1").await, name);
    assert_eq!(browser.text(".price").await, "$59.90");
    browser
        .wait_for_text("#stock-remaining", "the stock line", |t| t == "25 left")
        .await;
    browser.screenshot("shop-new-product").await;
    browser.goto(&format!("{}/", shop.url)).await;
    let catalogue = browser.text("#catalogue").await;
    assert!(catalogue.contains(name), "{catalogue}");

    // The dashboard follows the sale live: a shopper buys while it is open.
    browser.goto(&format!("{}/", admin.url)).await;
    let confirmed = format!("#stats tr[data-id='{id}'] td[data-k='confirmed']");
    assert_eq!(browser.text(&confirmed).await, "0");
    let ann = shop.shopper("ann").await;
    // The republish also refreshed the gateway's catalogue: the new product sells at once.
    assert_eq!(shop.buy(&ann, id).await.0, 202);
    browser
        .wait_for_text(&confirmed, "the confirmed order, without a reload", |t| {
            t == "1"
        })
        .await;
    let remaining = format!("#stats tr[data-id='{id}'] td[data-k='remaining']");
    assert_eq!(browser.text(&remaining).await, "24");
    assert_eq!(browser.text("#last-minute").await, "1");
    browser.screenshot("admin-dashboard-live").await;

    // The order, with the shopper's and the product's names.
    browser.click("a[href='/orders']").await;
    let orders = browser.text("#orders").await;
    assert!(orders.contains("ann") && orders.contains(name), "{orders}");
    assert!(orders.contains("confirmed"), "{orders}");
    browser.screenshot("admin-orders").await;

    browser.close().await;
    admin.stop().await;
    shop.stack.shutdown().await.expect("shutdown");
}

/// The admin beside `shop`, on a port of its own, and the password its first run printed.
pub(crate) async fn admin_beside(shop: &TestShop) -> (RunningAdmin, String) {
    let config = flashsale_core::Config {
        admin_listen: "127.0.0.1:0".into(),
        ..shop.config.clone()
    };
    let admin = start_admin(
        &config,
        shop.db().clone(),
        shop.stack.stock.clone(),
        shop.stack.room.clone(),
        shop.stack.after_publish(),
    )
    .await
    .expect("the admin starts");
    let password = admin
        .first_run
        .password
        .clone()
        .expect("a first run generates a password");
    (admin, password)
}

/// Logs `browser` in to `admin` and waits for the dashboard.
pub(crate) async fn log_in(browser: &Browser, admin: &RunningAdmin, password: &str) {
    browser.goto(&format!("{}/login", admin.url)).await;
    browser.fill("#user", "admin").await;
    browser.fill("#password", password).await;
    browser.click("#login").await;
    browser.wait_for_path("/").await;
}

/// A shop (`tweak` adjusts its config) with an admin beside it, and a browser logged in to
/// the admin at desktop size.
struct AdminFixture {
    shop: TestShop,
    admin: RunningAdmin,
    browser: Browser,
}

impl AdminFixture {
    async fn start(products: &[flashsale_core::domain::NewProduct], time_zone: &str) -> Self {
        let time_zone = time_zone.to_owned();
        let shop = TestShop::start_with(products, 10, |c| c.time_zone = time_zone).await;
        let (admin, password) = admin_beside(&shop).await;
        let browser = Browser::start().await;
        log_in(&browser, &admin, &password).await;
        AdminFixture {
            shop,
            admin,
            browser,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.admin.url)
    }

    /// Sets a field the way its picker would (a `datetime-local` value).
    async fn set_value(&self, id: &str, value: &str) {
        self.browser
            .client
            .execute(
                "document.getElementById(arguments[0]).value = arguments[1];",
                vec![id.into(), value.into()],
            )
            .await
            .unwrap_or_else(|e| panic!("set #{id}: {e}"));
    }

    async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        self.browser.attr(css, name).await
    }

    async fn value(&self, css: &str) -> String {
        self.browser.prop(css, "value").await.unwrap_or_default()
    }

    async fn stop(self) {
        self.browser.close().await;
        self.admin.stop().await;
        self.shop.stack.shutdown().await.expect("shutdown");
    }
}

fn unix(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .expect("a valid time")
        .unix_timestamp()
}

#[tokio::test]
async fn sale_times_are_typed_in_the_shops_zone_and_mistakes_are_named_by_label() {
    let f = AdminFixture::start(&[product("Pocket Phone", 5)], "America/New_York").await;
    let b = &f.browser;
    b.goto(&f.url("/products/new")).await;
    assert_eq!(
        f.attribute("#saleStart", "type").await.as_deref(),
        Some("datetime-local")
    );
    let hint = b.text("#zone-hint").await;
    assert!(hint.contains("America/New_York"), "{hint}");

    // Two mistakes: a price that is not one, and a sale that ends before it starts.
    b.fill("#name", "Summer Drop").await;
    b.fill("#stock", "40").await;
    b.fill("#price", "cheap").await;
    f.set_value("saleStart", "2030-07-01T10:00").await;
    f.set_value("saleEnd", "2030-07-01T09:00").await;
    b.click("#save").await;
    let summary = b
        .wait_for_text("#form-errors", "the list of mistakes", |t| !t.is_empty())
        .await;
    assert!(summary.contains("fix these 2 fields"), "{summary}");
    assert_eq!(
        b.text("#error-saleEnd").await,
        "Sale ends must be after Sale starts."
    );
    let price_error = b.text("#error-price").await;
    assert!(price_error.starts_with("Price must be"), "{price_error}");
    for field in ["#price", "#saleEnd"] {
        assert_eq!(
            f.attribute(field, "aria-invalid").await.as_deref(),
            Some("true"),
            "{field} is marked"
        );
    }
    assert_eq!(f.attribute("#name", "aria-invalid").await, None);
    let border: String = b
        .client
        .execute(
            "return getComputedStyle(document.getElementById('saleEnd')).borderTopColor;",
            vec![],
        )
        .await
        .expect("style")
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        border, "rgb(192, 38, 45)",
        "the wrong field is outlined in red"
    );
    // What was typed is all still there.
    assert_eq!(f.value("#name").await, "Summer Drop");
    assert_eq!(f.value("#stock").await, "40");
    assert_eq!(f.value("#saleStart").await, "2030-07-01T10:00");
    b.screenshot("admin-form-errors-labelled").await;

    b.fill("#price", "25").await;
    f.set_value("saleEnd", "2030-07-01T12:30").await;
    b.click("#save").await;
    let flash = b
        .wait_for_text("#flash", "the saved message", |t| t.contains("added"))
        .await;
    let id: i64 = flash
        .trim_start_matches("Product ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no id in {flash:?}"));

    // Stored as the instant New York meant (summer: UTC-4), not as 10:00 UTC.
    let stored = f
        .shop
        .db()
        .get_product(id)
        .await
        .expect("read")
        .expect("saved");
    assert_eq!(stored.sale_start, Some(unix("2030-07-01T14:00:00Z")));
    assert_eq!(stored.sale_end, Some(unix("2030-07-01T16:30:00Z")));

    // Shown back the same: in the list, with the full time on hover, and in the form.
    let row = format!("#products tr[data-id='{id}'] .when");
    assert_eq!(
        b.text(&row).await,
        "from 1 Jul 2030 10:00\nuntil 1 Jul 2030 12:30"
    );
    let start = format!("{row} time");
    assert_eq!(
        f.attribute(&start, "title").await.as_deref(),
        Some("Mon 1 Jul 2030, 10:00:00 EDT")
    );
    assert_eq!(
        f.attribute(&start, "datetime").await.as_deref(),
        Some("2030-07-01T14:00:00Z")
    );
    b.screenshot("admin-products-local-times").await;
    b.goto(&f.url(&format!("/products/{id}/edit"))).await;
    assert_eq!(f.value("#saleStart").await, "2030-07-01T10:00");
    assert_eq!(f.value("#saleEnd").await, "2030-07-01T12:30");
    b.screenshot("admin-product-form").await;
    f.stop().await;
}

/// A real PNG: `width` x `height` pixels of a diagonal gradient, zlib "stored" (uncompressed)
/// blocks, so the test needs no image crate.
fn png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // no filter
        for x in 0..width {
            let r = (x * 255 / width.max(1)) as u8;
            let g = (y * 255 / height.max(1)) as u8;
            raw.extend_from_slice(&[r, g, 200]);
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[tokio::test]
async fn an_uploaded_image_is_checked_and_reaches_the_product_page() {
    let f = AdminFixture::start(&[product("Pocket Phone", 5)], "UTC").await;
    let id = f.shop.product_ids[0];
    let b = &f.browser;
    let files = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, bytes: &[u8]| {
        let path = files.path().join(name);
        std::fs::write(&path, bytes).expect("write the file");
        path.display().to_string()
    };
    let fake = write("holiday.png", b"<html><script>alert(1)</script></html>");
    let mut huge = png(8, 8);
    huge.resize(3 * 1024 * 1024, 0);
    let huge = write("huge.png", &huge);
    let good_bytes = png(240, 180);
    let good = write("Gradient Phone.png", &good_bytes);

    b.goto(&f.url(&format!("/products/{id}/edit"))).await;
    let before = f.value("#image").await;
    b.find("#image-file")
        .await
        .send_keys(&fake)
        .await
        .expect("choose a file");
    b.wait_for_text("#error-image", "the wrong type refused", |t| {
        t == "holiday.png is not a PNG, JPEG, WebP or GIF image."
    })
    .await;
    assert_eq!(f.value("#image").await, before, "the field is left alone");
    assert_eq!(
        f.attribute("#image", "aria-invalid").await.as_deref(),
        Some("true")
    );
    b.screenshot("admin-upload-wrong-type").await;

    b.find("#image-file")
        .await
        .send_keys(&huge)
        .await
        .expect("choose a file");
    b.wait_for_text("#error-image", "the size refused", |t| {
        t == "The image is 3.0 MB; images can be at most 2 MB. Make it smaller and try again."
    })
    .await;
    assert_eq!(f.value("#image").await, before);
    b.screenshot("admin-upload-too-large").await;

    b.find("#image-file")
        .await
        .send_keys(&good)
        .await
        .expect("choose a file");
    b.wait_for_text("#image-status", "the upload done", |t| {
        t.starts_with("Uploaded")
    })
    .await;
    let url = f.value("#image").await;
    assert!(
        url.starts_with("/static/img/uploads/gradient-phone.") && url.ends_with(".png"),
        "{url}"
    );
    assert!(!b.is_displayed("#error-image").await);
    b.screenshot("admin-upload-done").await;
    b.click("#save").await;
    b.wait_for_text("#flash", "the saved message", |t| t.contains("saved"))
        .await;
    b.goto(&f.url("/publish")).await;
    b.click("#publish").await;
    let changed = b
        .wait_for_text("#changed", "the changed files", |t| !t.is_empty())
        .await;
    assert!(changed.lines().any(|l| l == &url[1..]), "{changed}");

    // The shop's page shows it, and the gateway serves the very bytes, cached for good.
    b.goto(&format!("{}/product/{id}.html", f.shop.url)).await;
    let src = f
        .attribute("img", "src")
        .await
        .expect("the product page has an image");
    assert_eq!(src, url);
    let loaded: bool = b
        .client
        .execute(
            "const i = document.querySelector('img'); return i.complete && i.naturalWidth === 240;",
            vec![],
        )
        .await
        .expect("script")
        .as_bool()
        .unwrap_or(false);
    assert!(loaded, "the browser shows the uploaded image");
    let served = reqwest::get(format!("{}{url}", f.shop.url))
        .await
        .expect("GET the image");
    assert_eq!(served.status(), 200);
    assert_eq!(
        served.headers()["content-type"].to_str().ok(),
        Some("image/png")
    );
    assert!(served.headers()["cache-control"]
        .to_str()
        .is_ok_and(|c| c.contains("immutable")));
    assert_eq!(served.bytes().await.expect("body").to_vec(), good_bytes);
    b.screenshot("admin-upload-on-the-product-page").await;
    f.stop().await;
}

#[tokio::test]
async fn every_admin_page_fits_a_phone() {
    let f = AdminFixture::start(
        &[
            product("Pocket Phone with a rather long name for a phone", 5),
            product("Trail Runner", 9),
        ],
        "Europe/Paris",
    )
    .await;
    let id = f.shop.product_ids[0];
    let ann = f.shop.shopper("ann").await;
    assert_eq!(f.shop.buy(&ann, id).await.0, 202);
    let b = &f.browser;
    b.resize(crate::util::PHONE).await;
    let pages = [
        ("/", "dashboard"),
        ("/products", "products"),
        (&*format!("/products/{id}/edit"), "product-form"),
        ("/orders", "orders"),
        ("/publish", "publish"),
    ];
    for (path, name) in pages {
        b.goto(&f.url(path)).await;
        b.find("main h1").await;
        let overflow = b.wider_than_window().await;
        b.screenshot(&format!("admin-phone-{name}")).await;
        assert!(!overflow, "{path}: nothing is wider than the phone");
        crate::axe::assert_accessible(&b.client, &format!("admin {name} on a phone")).await;
        if name == "orders" {
            // The table is wider than the phone: it scrolls inside its card instead.
            let scrolls: bool = b
                .client
                .execute(
                    "const s = document.querySelector('.table-scroll'); \
                     return s.scrollWidth > s.clientWidth;",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            assert!(scrolls, "the orders table scrolls inside its card");
        }
    }
    f.stop().await;
}

#[tokio::test]
async fn every_admin_page_passes_axe() {
    let f = AdminFixture::start(&[product("Pocket Phone", 5)], "Europe/Paris").await;
    let id = f.shop.product_ids[0];
    let ann = f.shop.shopper("ann").await;
    assert_eq!(f.shop.buy(&ann, id).await.0, 202);
    let b = &f.browser;
    for (path, name) in [
        ("/", "dashboard"),
        ("/products", "products"),
        (&*format!("/products/{id}/edit"), "product form"),
        (&*format!("/products/{id}/delete"), "delete"),
        ("/orders", "orders"),
        ("/publish", "publish"),
    ] {
        b.goto(&f.url(path)).await;
        b.find("main h1").await;
        crate::axe::assert_accessible(&b.client, &format!("admin {name}")).await;
    }
    // The form with its mistakes marked, and a publish's result.
    b.goto(&f.url("/products/new")).await;
    b.fill("#price", "free").await;
    b.click("#save").await;
    b.find("#form-errors").await;
    crate::axe::assert_accessible(&b.client, "admin product form with mistakes").await;
    b.goto(&f.url("/publish")).await;
    b.click("#publish").await;
    b.find("#publish-result").await;
    crate::axe::assert_accessible(&b.client, "admin publish result").await;
    // And the login page, once logged out.
    b.click("#logout").await;
    b.wait_for_path("/login").await;
    crate::axe::assert_accessible(&b.client, "admin login").await;
    b.screenshot("admin-login").await;
    f.stop().await;
}
