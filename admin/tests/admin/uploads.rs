//! The product form's image upload: what is refused and why, and that a good image becomes a
//! site asset with the next republish.

use crate::util::{product, Admin};

/// The start of a PNG: what the upload's check reads.
fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.resize(len, 7);
    bytes
}

#[tokio::test]
async fn a_good_image_is_stored_under_its_hash_and_published_with_the_next_republish() {
    let admin = Admin::start().await;
    let s = admin.login().await;
    let bytes = png(50_000);
    let answer = admin
        .upload(&s, &s.csrf, "Red%20Shoe.PNG", bytes.clone())
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let url = answer.json()["url"].as_str().expect("a url").to_owned();
    let name = url
        .strip_prefix("/static/img/uploads/")
        .unwrap_or_else(|| panic!("{url}"));
    assert!(
        name.starts_with("red-shoe.") && name.ends_with(".png"),
        "{name}"
    );
    assert_eq!(
        std::fs::read(admin.dir.path().join("uploads").join(name)).expect("stored"),
        bytes
    );
    // The same bytes under another name: the same hash.
    let again = admin.upload(&s, &s.csrf, "other.png", bytes.clone()).await;
    assert!(again.json()["url"]
        .as_str()
        .is_some_and(|u| u.ends_with(&name[8..])));

    // A product using it, republished: the image is in dist/ and in the manifest the
    // gateway serves from.
    let id = admin
        .db
        .insert_product(&flashsale_core::domain::NewProduct {
            image: url.clone(),
            ..product("Red Shoe", 3)
        })
        .await
        .expect("insert");
    let published = admin.api("POST", "/api/publish", None).await;
    assert_eq!(published.status, 200, "{}", published.body);
    let dist = admin.dir.path().join("dist");
    assert_eq!(
        std::fs::read(dist.join(&url[1..])).expect("published"),
        bytes
    );
    let page = std::fs::read_to_string(dist.join(format!("product/{id}.html"))).expect("page");
    assert!(
        page.contains(&format!("src=\"{url}\"")),
        "the page shows it"
    );
    let manifest = walk(&dist.join(".flashsale"));
    assert!(manifest.contains(&url[1..]), "the manifest lists the image");

    // A later edit of another product does not drop it from the site.
    let second = admin.api("POST", "/api/publish", None).await;
    assert_eq!(second.status, 200);
    assert!(dist.join(&url[1..]).is_file());
}

/// Every file's text under `dir`.
fn walk(dir: &std::path::Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            all.push_str(&walk(&path));
        } else {
            all.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    all
}

#[tokio::test]
async fn wrong_types_and_big_files_are_refused_with_a_clear_message() {
    let admin = Admin::start().await;
    let s = admin.login().await;
    let refused = [
        (
            "page.png",
            b"<html><script>alert(1)</script>".to_vec(),
            422,
            "page.png is not a PNG, JPEG, WebP or GIF image.",
        ),
        (
            "logo.svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".to_vec(),
            422,
            "logo.svg is not a PNG, JPEG, WebP or GIF image.",
        ),
        (
            "empty.png",
            Vec::new(),
            422,
            "The file is empty. Choose a PNG, JPEG, WebP or GIF image.",
        ),
        (
            "big.png",
            png(2 * 1024 * 1024 + 1),
            413,
            "The image is 2.1 MB; images can be at most 2 MB. Make it smaller and try again.",
        ),
    ];
    for (name, bytes, status, message) in refused {
        let answer = admin.upload(&s, &s.csrf, name, bytes).await;
        assert_eq!(answer.status.as_u16(), status, "{name}: {}", answer.body);
        assert_eq!(answer.json()["error"], message, "{name}");
    }
    let ok = admin
        .upload(&s, &s.csrf, "max.png", png(2 * 1024 * 1024))
        .await;
    assert_eq!(ok.status, 200, "2 MB exactly is taken");
    let stored = std::fs::read_dir(admin.dir.path().join("uploads"))
        .expect("uploads")
        .count();
    assert_eq!(stored, 1, "nothing refused was kept");
}

#[tokio::test]
async fn an_upload_needs_the_session_and_its_csrf_token() {
    let admin = Admin::start().await;
    let s = admin.login().await;
    let forged = admin.upload(&s, "not-the-token", "a.png", png(100)).await;
    assert_eq!(forged.status, 403);
    let stranger = crate::util::Session {
        cookie: String::new(),
        csrf: String::new(),
    };
    let answer = admin.upload(&stranger, "", "a.png", png(100)).await;
    assert_eq!(answer.status, 303, "sent to the login form");
    assert!(!admin.dir.path().join("uploads").exists());
}
