//! Serving a published site from memory: encodings, validators, cache headers, and new
//! publishes picked up whole, never mixed.

use flashsale_core::domain::Product;
use flashsale_gateway::static_files::{
    Conditions, StaticFiles, CACHE_HASHED, CACHE_MISSING, CACHE_PAGE,
};
use flashsale_sitegen::{render_site, SiteOptions};
use std::io::Read;
use std::path::Path;

fn product(id: i64, name: &str) -> Product {
    Product {
        id,
        name: name.to_owned(),
        stock: 5,
        price_cents: 999,
        image: "/static/img/phone.svg".to_owned(),
        description: format!("About {name}. ").repeat(50),
        sale_start: None,
        sale_end: None,
        queue: false,
        admit_per_second: 100,
    }
}

fn publish(dist: &Path, products: &[Product]) {
    render_site(products, &SiteOptions::new(dist, 10, "Test Shop")).expect("render");
}

fn header<'a>(reply: &'a flashsale_gateway::reply::Reply, name: &str) -> Option<&'a str> {
    reply
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_ref())
}

fn get(files: &StaticFiles, path: &str, accept: Option<&str>) -> flashsale_gateway::reply::Reply {
    files.serve(
        path,
        Conditions {
            if_none_match: None,
            accept_encoding: accept,
        },
    )
}

#[test]
fn pages_come_in_the_best_encoding_the_client_takes() {
    let dir = tempfile::tempdir().expect("tempdir");
    publish(dir.path(), &[product(1, "Phone")]);
    let files = StaticFiles::new(dir.path());
    let plain = std::fs::read(dir.path().join("product/1.html")).expect("page");

    let identity = get(&files, "/product/1.html", None);
    assert_eq!(identity.status, 200);
    assert_eq!(identity.body.as_ref(), plain.as_slice());
    assert_eq!(header(&identity, "content-encoding"), None);
    assert_eq!(header(&identity, "vary"), Some("Accept-Encoding"));
    assert_eq!(
        header(&identity, "content-type"),
        Some("text/html; charset=utf-8")
    );

    let br = get(&files, "/product/1.html", Some("gzip, deflate, br"));
    assert_eq!(header(&br, "content-encoding"), Some("br"));
    let mut unpacked = Vec::new();
    brotli::BrotliDecompress(&mut br.body.as_ref(), &mut unpacked).expect("brotli");
    assert_eq!(unpacked, plain);

    let gz = get(&files, "/product/1.html", Some("gzip;q=1, br;q=0"));
    assert_eq!(header(&gz, "content-encoding"), Some("gzip"));
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(gz.body.as_ref())
        .read_to_end(&mut unpacked)
        .expect("gzip");
    assert_eq!(unpacked, plain);
    assert!(
        gz.body.len() < plain.len() / 2,
        "compressed pages are smaller"
    );

    // Each representation has its own validator.
    let tags = [&identity, &br, &gz].map(|r| header(r, "etag").expect("etag").to_owned());
    assert!(tags[0] != tags[1] && tags[1] != tags[2], "{tags:?}");
}

#[test]
fn validators_and_cache_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    publish(dir.path(), &[product(1, "Phone")]);
    let files = StaticFiles::new(dir.path());

    let page = get(&files, "/", Some("br"));
    assert_eq!(header(&page, "cache-control"), Some(CACHE_PAGE));
    let etag = header(&page, "etag").expect("etag").to_owned();
    for tags in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
    ] {
        let again = files.serve(
            "/",
            Conditions {
                if_none_match: Some(&tags),
                accept_encoding: Some("br"),
            },
        );
        assert_eq!(again.status, 304, "{tags}");
        assert!(again.body.is_empty());
    }

    let html = String::from_utf8(get(&files, "/", None).body.to_vec()).expect("utf-8");
    let start = html.find("/static/style.").expect("stylesheet link");
    let css_url = &html[start..start + "/static/style.".len() + 16 + ".css".len()];
    let css = get(&files, css_url, None);
    assert_eq!(css.status, 200);
    assert_eq!(header(&css, "cache-control"), Some(CACHE_HASHED));
    assert_eq!(
        header(&css, "content-type"),
        Some("text/css; charset=utf-8")
    );

    let plain_css = get(&files, "/static/style.css", None);
    assert_ne!(header(&plain_css, "cache-control"), Some(CACHE_HASHED));

    let sitemap = get(&files, "/sitemap.xml", None);
    assert_eq!(sitemap.status, 200);
    assert!(header(&sitemap, "content-type").is_some_and(|t| t.contains("xml")));

    let missing = get(&files, "/product/404.html", Some("gzip"));
    assert_eq!(missing.status, 404);
    assert_eq!(header(&missing, "cache-control"), Some(CACHE_MISSING));
    assert!(!missing.body.is_empty(), "the site's 404 page");

    assert_eq!(get(&files, "/.flashsale/manifest.txt", None).status, 404);
}

#[test]
fn a_new_publish_is_served_after_a_reload_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    publish(dir.path(), &[product(1, "Phone")]);
    let files = StaticFiles::new(dir.path());
    assert_eq!(files.reload(), Ok(false), "nothing new yet");

    publish(dir.path(), &[product(1, "Phone"), product(2, "Camera")]);
    assert_eq!(files.reload(), Ok(true));
    let page = get(&files, "/product/2.html", None);
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("Camera"));

    publish(dir.path(), &[product(1, "Phone")]);
    assert_eq!(files.reload(), Ok(true));
    assert_eq!(get(&files, "/product/2.html", None).status, 404);
}

#[test]
fn a_publish_being_written_is_not_served_until_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    publish(dir.path(), &[product(1, "Phone")]);
    let files = StaticFiles::new(dir.path());

    // A second publish lands, but before the gateway reads it a third one is already
    // rewriting one of its files: the manifest and the file disagree.
    publish(dir.path(), &[product(1, "Phone"), product(2, "Camera")]);
    let page = dir.path().join("product/2.html");
    let whole = std::fs::read(&page).expect("page");
    std::fs::write(&page, "half a page").expect("write");
    assert_eq!(
        files.reload(),
        Ok(false),
        "a mismatching file keeps the old publish"
    );
    assert_eq!(
        get(&files, "/product/2.html", None).status,
        404,
        "still the first publish"
    );

    // The file is whole again: the publish is served.
    std::fs::write(&page, whole).expect("write");
    assert_eq!(files.reload(), Ok(true));
    assert!(String::from_utf8_lossy(&get(&files, "/product/2.html", None).body).contains("Camera"));
}

#[test]
fn a_reader_sees_one_publish_or_the_next_never_a_mix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let version = |name: &str| vec![product(1, name), product(2, name)];
    publish(dir.path(), &version("Alpha"));
    let files = StaticFiles::new(dir.path());
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..20 {
                publish(
                    dir.path(),
                    &version(if i % 2 == 0 { "Bravo" } else { "Alpha" }),
                );
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut swaps = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            if files.reload() == Ok(true) {
                swaps += 1;
            }
            // Only this thread reloads, so these three come from one snapshot.
            let pages = ["/", "/product/1.html", "/product/2.html"]
                .map(|p| String::from_utf8(get(&files, p, None).body.to_vec()).expect("utf-8"));
            let alpha = pages.iter().filter(|p| p.contains("Alpha")).count();
            assert!(
                alpha == 0 || alpha == 3,
                "pages of two publishes served together"
            );
        }
        assert!(swaps > 0, "the reader saw no publish at all");
    });
    files.reload().expect("reload");
    let last = String::from_utf8(get(&files, "/", None).body.to_vec()).expect("utf-8");
    assert!(last.contains("Alpha"), "the last publish is served");
}
