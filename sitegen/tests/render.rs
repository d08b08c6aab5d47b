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
    }
}

fn options(dist: &Path) -> SiteOptions {
    SiteOptions {
        dist: dist.to_path_buf(),
        cooldown_secs: 10,
        shop_name: "Test Shop".to_owned(),
    }
}

fn render(products: &[Product], dist: &Path) -> RenderSummary {
    render_site(products, &options(dist)).expect("render succeeds")
}

fn read(dist: &Path, page: &str) -> String {
    fs::read_to_string(dist.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"))
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
            "static/img/phone.svg",
            "static/img/headphones.svg",
            "static/img/watch.svg",
            "static/img/sneakers.svg",
        ] {
            assert!(
                written.iter().any(|f| f == page),
                "{page} missing from {written:?}"
            );
        }
        // index + 2 products + login + register + order + 404
        assert_eq!(summary.rendered, 7);
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
        assert!(index.contains("watch.svg"));
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
        assert!(page.contains(r#"src="/static/buy.js""#));
        // Data travels in attributes only: no inline script.
        assert!(!page.contains("<script>"));
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
        assert!(order.contains(r#"src="/static/order.js""#));
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

        for page in ["index.html", "product/666.html"] {
            let html = read(dir.path(), page);
            assert!(!html.contains("<script>alert(1)"), "{page}: raw name");
            assert!(!html.contains(r#"" onerror="#), "{page}: raw image URL");
            assert!(!html.contains("<i>Shop"), "{page}: raw shop name");
            assert!(
                html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"),
                "{page}: {html}"
            );
            assert!(html.contains("&quot; onerror=&quot;alert(1)"), "{page}");
            assert!(html.contains("&lt;i&gt;Shop&lt;&#x2F;i&gt;"), "{page}");
        }
        let page = read(dir.path(), "product/666.html");
        assert!(!page.contains("<b>claims"));
        assert!(
            page.contains("&lt;b&gt;claims&lt;&#x2F;b&gt; &amp; more"),
            "{page}"
        );
    }

    #[test]
    fn a_script_url_never_becomes_a_picture() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut evil = product(1, "Phone");
        evil.image = "javascript:alert(1)".to_owned();
        render(&[evil], dir.path());
        let page = read(dir.path(), "product/1.html");
        assert!(!page.contains("javascript:"), "{page}");
        assert!(page.contains("placeholder.svg"));
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
        let before = fs::metadata(&page)
            .and_then(|m| m.modified())
            .expect("mtime");
        std::thread::sleep(std::time::Duration::from_millis(20));

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
