//! render_site as the shop sees it: which files appear in `dist/`, and what is in them.

use std::fs;
use std::path::{Path, PathBuf};

use flashsale_core::domain::Product;
use flashsale_sitegen::{render_site, RenderSummary, SiteOptions, SitegenError};

/// A product with sensible defaults; tests change the fields they care about.
fn product(id: i64, name: &str) -> Product {
    Product {
        id,
        name: name.to_owned(),
        stock: 10,
        price_cents: 1234,
        image: "/static/img/phone.svg".to_owned(),
        description: format!("All about {name}."),
        sale_start: None,
        sale_end: None,
        queue: false,
        admit_per_second: 100,
    }
}

fn options(dist: &Path) -> SiteOptions {
    SiteOptions::new(dist, 10, "Test Shop")
}

fn render(products: &[Product], dist: &Path) -> RenderSummary {
    render_site(products, &options(dist)).expect("render succeeds")
}

fn read(dist: &Path, page: &str) -> String {
    fs::read_to_string(dist.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"))
}

/// The URL in `html` that starts with `prefix`, has 16 hex digits, then `suffix`.
fn hashed_ref(html: &str, prefix: &str, suffix: &str) -> String {
    let start = html
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {html}"));
    let rest = &html[start + prefix.len()..];
    let hex = &rest[..16];
    assert!(
        hex.chars().all(|c| c.is_ascii_hexdigit()) && rest[16..].starts_with(suffix),
        "{prefix}... is not content-hashed in {html}"
    );
    format!("{prefix}{hex}{suffix}")
}

/// Every file under `dir`, relative to it, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("readable dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    let mut names: Vec<String> = out
        .iter()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect();
    names.sort();
    names
}

// What lands in dist/.
mod pages {
    use super::*;

    #[test]
    fn every_page_and_asset_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dist = dir.path().join("dist"); // does not exist yet: render_site creates it
        let summary = render(&[product(1, "Phone"), product(2, "Watch")], &dist);

        let written = files(&dist);
        for page in [
            "index.html",
            "product/1.html",
            "product/2.html",
            "user/login.html",
            "user/register.html",
            "order.html",
            "404.html",
            "static/style.css",
            "static/buy.js",
            "static/order.js",
            "static/room.js",
            "static/pow-worker.js",
            "static/register.js",
            "static/shopper.js",
            "static/account.js",
            "orders.html",
            "static/img/phone.svg",
            "static/img/headphones.svg",
            "static/img/watch.svg",
            "static/img/sneakers.svg",
            "sitemap.xml",
            "index.html.gz",
            "index.html.br",
            "product/1.html.br",
            ".flashsale/manifest.txt",
        ] {
            assert!(
                written.iter().any(|f| f == page),
                "{page} missing from {written:?}"
            );
        }
        // index + 2 products + login + register + order + orders + 404 + sitemap, and 24
        // assets twice.
        assert_eq!(summary.rendered, 9 + 48);
        assert_eq!(summary.changed.len(), summary.rendered);
        assert_eq!(summary.unchanged, 0);
        assert_eq!(summary.removed, 0);
    }

    #[test]
    fn the_catalogue_lists_every_product_with_link_picture_and_price() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cheap = product(1, "Sticker");
        cheap.price_cents = 5;
        let mut watch = product(2, "Watch");
        watch.image = "/static/img/watch.svg".to_owned();
        render(&[cheap, watch], dir.path());

        let index = read(dir.path(), "index.html");
        assert!(index.contains(r#"href="/product/1.html""#), "{index}");
        assert!(index.contains(">Sticker</a>"));
        assert!(index.contains(">Watch</a>"));
        assert!(index.contains("0.05"));
        assert!(index.contains("12.34"));
        hashed_ref(&index, "/static/img/watch.", ".svg");
        assert!(index.contains("Test Shop"));
    }

    #[test]
    fn a_product_page_has_the_buy_button_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut phone = product(42, "Phone");
        phone.sale_start = Some(1_748_779_200);
        render_site(
            &[phone],
            &SiteOptions {
                cooldown_secs: 7,
                ..options(dir.path())
            },
        )
        .expect("render");

        let page = read(dir.path(), "product/42.html");
        assert!(page.contains(r#"id="buy""#), "{page}");
        assert!(page.contains(r#"data-product-id="42""#));
        assert!(page.contains(r#"data-cooldown="7""#));
        assert!(page.contains(r#"data-sale-start="2025-06-01T12:00:00Z""#));
        assert!(page.contains(r#"data-sale-end="""#));
        assert!(page.contains(r#"id="buy-result""#));
        assert!(page.contains(r#"aria-live="polite""#));
        assert!(page.contains(r#"<span id="stock-remaining">10 left</span>"#));
        assert!(page.contains("12.34"));
        assert!(page.contains("All about Phone."));
        let script = hashed_ref(&page, "/static/buy.", ".js");
        assert_eq!(
            fs::read(dir.path().join(&script[1..])).expect("hashed script exists"),
            fs::read(dir.path().join("static/buy.js")).expect("plain script exists")
        );
        // Data travels in attributes only: no inline script.
        assert!(!page.contains("<script>"));
    }

    #[test]
    fn only_a_product_with_a_waiting_room_shows_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = product(1, "Plain Phone");
        let mut drop = product(2, "Hyped Sneaker");
        drop.queue = true;
        drop.sale_start = Some(1_748_779_200);
        render_site(
            &[plain, drop],
            &SiteOptions {
                queue_prequeue_secs: 600,
                ..options(dir.path())
            },
        )
        .expect("render");

        let page = read(dir.path(), "product/1.html");
        assert!(
            !page.contains(r#"id="room""#),
            "no line without a room: {page}"
        );
        assert!(!page.contains("/static/room."), "nor its script");
        assert!(!page.contains("data-queue"), "Buy works as always");

        let page = read(dir.path(), "product/2.html");
        assert!(page.contains(r#"id="room""#), "{page}");
        assert!(page.contains(r#"data-product-id="2""#));
        // Ten minutes before the sale starts, written for readers without script too.
        assert!(page.contains(r#"data-opens-at="2025-06-01T11:50:00Z""#));
        assert!(
            page.contains("Line opens at 2025-06-01 11:50 UTC"),
            "{page}"
        );
        assert!(page.contains(r#"id="room-join""#));
        assert!(
            page.contains(r#"data-queue="true""#),
            "Buy waits for the turn"
        );
        // Both scripts by their hashed names, and they are published.
        let worker = hashed_ref(&page, "/static/pow-worker.", ".js");
        let room = hashed_ref(&page, "/static/room.", ".js");
        for script in [worker, room] {
            assert!(dir.path().join(&script[1..]).is_file(), "{script}");
        }
        assert!(
            !page.contains("<script>"),
            "data travels in attributes only"
        );
    }

    #[test]
    fn the_account_forms_post_the_gateway_fields() {
        let dir = tempfile::tempdir().expect("tempdir");
        render(&[], dir.path());

        let login = read(dir.path(), "user/login.html");
        assert!(
            login.contains(r#"method="post" action="/user/login""#),
            "{login}"
        );
        assert!(login.contains(r#"name="userName""#));
        assert!(login.contains(r#"name="password""#));

        let register = read(dir.path(), "user/register.html");
        assert!(
            register.contains(r#"action="/user/register""#),
            "{register}"
        );
        for field in ["nickName", "userName", "password"] {
            assert!(register.contains(&format!(r#"name="{field}""#)), "{field}");
        }
        assert_eq!(register.matches(r#"maxlength="64""#).count(), 3);
        assert!(register.contains(r#"minlength="8""#));

        // Every page carries the nav, with the logout form.
        for page in ["index.html", "order.html", "404.html", "user/login.html"] {
            let html = read(dir.path(), page);
            assert!(html.contains(r#"action="/user/logout""#), "{page}");
            assert!(html.contains(r#"href="/user/register""#), "{page}");
        }
    }

    #[test]
    fn the_order_page_loads_its_script() {
        let dir = tempfile::tempdir().expect("tempdir");
        render(&[], dir.path());
        let order = read(dir.path(), "order.html");
        assert!(order.contains(r#"id="order-status""#));
        hashed_ref(&order, "/static/order.", ".js");
    }
}

// Shop data is text, never markup.
mod escaping {
    use super::*;

    #[test]
    fn hostile_product_data_is_rendered_escaped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut evil = product(666, "<script>alert(1)</script>");
        evil.description = "Bold <b>claims</b> & more".to_owned();
        evil.image = r#"/static/img/x.svg" onerror="alert(1)"#.to_owned();
        let shop = SiteOptions {
            shop_name: "<i>Shop</i>".to_owned(),
            ..options(dir.path())
        };
        render_site(&[evil], &shop).expect("render");

        let pages: Vec<String> = files(dir.path())
            .into_iter()
            .filter(|f| f.ends_with(".html"))
            .collect();
        assert_eq!(pages.len(), 7, "{pages:?}");
        for page in &pages {
            let html = read(dir.path(), page);
            assert!(!html.contains("<i>Shop"), "{page}: raw shop name");
            assert!(html.contains("&lt;i&gt;Shop&lt;/i&gt;"), "{page}");
        }
        for page in ["index.html", "product/666.html"] {
            let html = read(dir.path(), page);
            assert!(!html.contains("<script>alert(1)"), "{page}: raw name");
            assert!(!html.contains(r#"" onerror="#), "{page}: raw image URL");
            assert!(!html.contains("<i>Shop"), "{page}: raw shop name");
            assert!(
                html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{page}: {html}"
            );
            assert!(html.contains("&quot; onerror=&quot;alert(1)"), "{page}");
            assert!(html.contains("&lt;i&gt;Shop&lt;/i&gt;"), "{page}");
        }
        let page = read(dir.path(), "product/666.html");
        assert!(!page.contains("<b>claims"));
        assert!(
            page.contains("&lt;b&gt;claims&lt;/b&gt; &amp; more"),
            "{page}"
        );
    }

    #[test]
    fn a_waiting_room_page_keeps_names_escaped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut evil = product(7, r#"</h2><script>alert(1)</script>"#);
        evil.queue = true;
        evil.sale_start = Some(1_748_779_200);
        render(&[evil], dir.path());
        let page = read(dir.path(), "product/7.html");
        assert!(page.contains(r#"id="room""#), "{page}");
        assert!(!page.contains("<script>alert(1)"), "raw name: {page}");
        assert!(page.contains("&lt;script&gt;alert(1)"), "{page}");
    }

    #[test]
    fn a_script_url_never_becomes_a_picture() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut evil = product(1, "Phone");
        evil.image = "javascript:alert(1)".to_owned();
        render(&[evil], dir.path());
        let page = read(dir.path(), "product/1.html");
        assert!(!page.contains("javascript:"), "{page}");
        hashed_ref(&page, "/static/img/placeholder.", ".svg");
    }
}

// Rerenders: removal, idempotence, atomic swaps.
mod republish {
    use super::*;

    #[test]
    fn a_rerun_without_a_product_removes_its_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        render(&[product(1, "Phone"), product(2, "Watch")], dir.path());
        fs::write(dir.path().join("product/notes.txt"), "not ours").expect("write");

        let summary = render(&[product(1, "Phone")], dir.path());
        assert_eq!(summary.removed, 1);
        assert!(dir.path().join("product/1.html").exists());
        assert!(!dir.path().join("product/2.html").exists());
        assert!(
            dir.path().join("product/notes.txt").exists(),
            "only our pages are removed"
        );
        assert!(!read(dir.path(), "index.html").contains("Watch"));

        assert_eq!(render(&[product(1, "Phone")], dir.path()).removed, 0);
    }

    #[test]
    fn rendering_leaves_no_temp_files_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        render(&[product(1, "Phone")], dir.path());
        let mut changed = product(1, "Phone");
        changed.price_cents = 999;
        render(&[changed, product(2, "Watch")], dir.path());

        let strays: Vec<String> = files(dir.path())
            .into_iter()
            .filter(|f| {
                f.ends_with(".tmp") || f.rsplit('/').next().is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        assert!(strays.is_empty(), "{strays:?}");
        assert!(read(dir.path(), "product/1.html").contains("9.99"));
    }

    #[test]
    fn an_unchanged_page_is_not_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        render(&[product(1, "Phone"), product(2, "Watch")], dir.path());
        let page = dir.path().join("product/1.html");
        // A stamp no rewrite could give it, instead of waiting for the clock to move on.
        let before = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
        fs::File::options()
            .write(true)
            .open(&page)
            .and_then(|f| f.set_modified(before))
            .expect("set mtime");

        let mut watch = product(2, "Watch");
        watch.stock = 0;
        render(&[product(1, "Phone"), watch], dir.path());
        let after = fs::metadata(&page)
            .and_then(|m| m.modified())
            .expect("mtime");
        assert_eq!(before, after);
        assert!(read(dir.path(), "product/2.html").contains("Sold out"));
    }
}

// Failures say which page.
mod errors {
    use super::*;

    #[test]
    fn two_products_with_one_id_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = render_site(&[product(3, "A"), product(3, "B")], &options(dir.path()))
            .expect_err("duplicate id");
        assert!(
            matches!(err, SitegenError::DuplicateProduct { id: 3 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("product/3.html"), "{err}");
    }

    #[test]
    fn an_unwritable_page_names_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the page should go cannot be replaced by a file.
        fs::create_dir_all(dir.path().join("product/5.html/x")).expect("mkdir");
        let err = render_site(&[product(5, "A")], &options(dir.path())).expect_err("blocked");
        assert!(err.to_string().contains("5.html"), "{err}");
    }
}

// The manifest: only what changed is rendered again.
mod incremental {
    use super::*;
    use flashsale_sitegen::Site;

    fn catalogue(n: i64) -> Vec<Product> {
        (1..=n)
            .map(|id| product(id, &format!("Item {id}")))
            .collect()
    }

    #[test]
    fn a_rerun_with_nothing_changed_renders_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = render(&catalogue(30), dir.path());
        let again = render(&catalogue(30), dir.path());
        assert_eq!(again.rendered, 0, "{:?}", again.changed);
        assert_eq!(again.removed, 0);
        assert_eq!(again.unchanged, first.rendered);
    }

    #[test]
    fn editing_one_product_renders_its_page_and_its_catalogue_page_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        render(&catalogue(60), dir.path());
        let mut products = catalogue(60);
        products[29].price_cents = 1; // product 30: on catalogue page 2
        let summary = render(&products, dir.path());
        let mut changed = summary.changed.clone();
        changed.sort();
        assert_eq!(changed, vec!["page/2.html", "product/30.html"]);
        assert!(read(dir.path(), "product/30.html").contains("0.01"));
        assert!(read(dir.path(), "page/2.html").contains("0.01"));
    }

    #[test]
    fn a_removed_product_takes_its_twins_and_surplus_catalogue_pages_along() {
        let dir = tempfile::tempdir().expect("tempdir");
        render(&catalogue(60), dir.path());
        assert!(dir.path().join("page/3.html.gz").exists());
        let summary = render(&catalogue(10), dir.path());
        assert_eq!(summary.removed, 50 + 2, "{:?}", summary.changed);
        for gone in [
            "product/11.html",
            "product/11.html.gz",
            "product/11.html.br",
            "page/2.html",
            "page/3.html.br",
        ] {
            assert!(!dir.path().join(gone).exists(), "{gone} survived");
        }
        let sitemap = read(dir.path(), "sitemap.xml");
        assert!(!sitemap.contains("/product/11.html"));
    }

    #[test]
    fn the_catalogue_is_paged_with_links_both_ways() {
        let dir = tempfile::tempdir().expect("tempdir");
        render(&catalogue(50), dir.path());
        let first = read(dir.path(), "index.html");
        assert!(first.contains(r#"href="/page/2""#), "{first}");
        assert!(first.contains("Page 1 of 3"));
        assert_eq!(first.matches("class=\"card\"").count(), 24);
        let last = read(dir.path(), "page/3.html");
        assert!(last.contains(r#"href="/page/2""#));
        assert_eq!(last.matches("class=\"card\"").count(), 2);
        assert!(last.contains("Item 50"));
    }

    #[test]
    fn the_sitemap_lists_every_page_with_the_site_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = options(dir.path());
        opts.site_url = "https://shop.example/".to_owned();
        render_site(&catalogue(30), &opts).expect("render");
        let sitemap = read(dir.path(), "sitemap.xml");
        assert!(sitemap.starts_with("<?xml"), "{sitemap}");
        for url in [
            "<loc>https://shop.example/</loc>",
            "<loc>https://shop.example/page/2</loc>",
            "<loc>https://shop.example/product/1.html</loc>",
            "<loc>https://shop.example/product/30.html</loc>",
        ] {
            assert!(sitemap.contains(url), "{url} missing: {sitemap}");
        }
    }

    #[test]
    fn twins_hold_the_same_page_compressed() {
        use std::io::Read;
        let dir = tempfile::tempdir().expect("tempdir");
        render(&catalogue(3), dir.path());
        let plain = fs::read(dir.path().join("product/2.html")).expect("page");
        let mut gunzipped = Vec::new();
        flate2::read::GzDecoder::new(
            fs::read(dir.path().join("product/2.html.gz"))
                .expect("gz")
                .as_slice(),
        )
        .read_to_end(&mut gunzipped)
        .expect("gunzip");
        assert_eq!(gunzipped, plain);
        let mut unbrotlied = Vec::new();
        brotli::BrotliDecompress(
            &mut fs::read(dir.path().join("product/2.html.br"))
                .expect("br")
                .as_slice(),
            &mut unbrotlied,
        )
        .expect("unbrotli");
        assert_eq!(unbrotlied, plain);
    }

    #[test]
    fn a_changed_asset_gets_a_new_name_and_the_old_one_lives_one_publish_more() {
        let dir = tempfile::tempdir().expect("tempdir");
        let theme = tempfile::tempdir().expect("theme dir");
        copy_builtin_theme(theme.path());
        let dist = dir.path().join("dist");
        let mut opts = options(&dist);
        opts.templates = Some(theme.path().to_path_buf());

        render_site(&catalogue(2), &opts).expect("first");
        let old_css = hashed_ref(&read(&dist, "index.html"), "/static/style.", ".css");

        fs::write(theme.path().join("static/style.css"), "body { color: red }").expect("edit");
        let summary = render_site(&catalogue(2), &opts).expect("second");
        let new_css = hashed_ref(&read(&dist, "index.html"), "/static/style.", ".css");
        assert_ne!(old_css, new_css);
        assert!(
            summary.changed.iter().any(|c| c == "product/1.html"),
            "a theme change renders every page"
        );
        assert!(
            dist.join(&old_css[1..]).exists(),
            "cached pages still find the old stylesheet"
        );

        fs::write(
            theme.path().join("index.html"),
            fs::read_to_string(theme.path().join("index.html")).expect("read") + "\n",
        )
        .expect("edit");
        render_site(&catalogue(2), &opts).expect("third");
        assert!(
            !dist.join(&old_css[1..]).exists(),
            "retired a publish ago, now gone"
        );
        assert!(dist.join(&new_css[1..]).exists());
    }

    #[test]
    fn a_site_kept_open_republishes_one_edit_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut site = Site::open(options(dir.path())).expect("open");
        site.publish(&catalogue(100)).expect("publish");

        let mut edited = product(77, "Renamed");
        edited.stock = 0;
        let summary = site.publish_changes(&[edited], &[]).expect("edit");
        let mut changed = summary.changed.clone();
        changed.sort();
        assert_eq!(changed, vec!["page/4.html", "product/77.html"]);
        assert!(read(dir.path(), "product/77.html").contains("Sold out"));

        let summary = site.publish_changes(&[], &[100]).expect("remove");
        assert!(summary.changed.iter().any(|c| c == "product/100.html"));
        assert!(!dir.path().join("product/100.html").exists());

        // A new product lands on the last catalogue page and in the sitemap.
        let summary = site
            .publish_changes(&[product(150, "Newcomer")], &[])
            .expect("add");
        assert!(summary.changed.iter().any(|c| c == "product/150.html"));
        assert!(summary.changed.iter().any(|c| c == "sitemap.xml"));
        assert!(read(dir.path(), "page/5.html").contains("Newcomer"));
        let summary = site.publish_changes(&[], &[150]).expect("remove again");
        assert!(summary.changed.iter().any(|c| c == "product/150.html"));

        // A fresh render agrees with what the open site published: nothing left to do.
        let mut all = catalogue(99);
        all[76] = product(77, "Renamed");
        all[76].stock = 0;
        assert_eq!(render(&all, dir.path()).rendered, 0);
    }

    #[test]
    fn a_reader_never_sees_half_a_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        let long = |name: &str| {
            let mut p = product(1, name);
            p.description = format!("{name} ").repeat(5_000);
            p
        };
        render(&[long("Alpha")], dir.path());
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..12 {
                    render(
                        &[long(if i % 2 == 0 { "Bravo" } else { "Alpha" })],
                        dir.path(),
                    );
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || reads < 10 {
                let page = read(dir.path(), "product/1.html");
                assert!(
                    page.trim_end().ends_with("</html>"),
                    "a half-written page was read"
                );
                reads += 1;
            }
        });
    }

    /// The built-in theme as a directory, as a shop would start its own.
    fn copy_builtin_theme(to: &Path) {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../site-templates");
        for file in files(&from) {
            let target = to.join(&file);
            fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            fs::copy(from.join(&file), target).expect("copy");
        }
    }
}

mod compression {
    use super::*;

    #[test]
    fn turning_compression_off_takes_the_twins_away() {
        let dir = tempfile::tempdir().expect("tempdir");
        render(&[product(1, "Phone")], dir.path());
        assert!(dir.path().join("product/1.html.br").exists());
        let mut opts = options(dir.path());
        opts.compress = false;
        render_site(&[product(1, "Phone")], &opts).expect("render");
        for twin in ["product/1.html.br", "product/1.html.gz", "index.html.gz"] {
            assert!(
                !dir.path().join(twin).exists(),
                "{twin} is stale and must go"
            );
        }
        assert!(dir.path().join("product/1.html").exists());
    }
}
