//! Products through the pages: validation messages, HTML in names, CSRF, stock resets,
//! delete, and republishing what changed.

use crate::util::{product, Admin};

fn fields<'a>(csrf: &'a str, name: &'a str, stock: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("name", name),
        ("stock", stock),
        ("price", "19.99"),
        ("image", "/static/img/phone.svg"),
        ("description", "A phone."),
        ("saleStart", ""),
        ("saleEnd", ""),
    ]
}

#[tokio::test]
async fn a_form_with_mistakes_comes_back_with_a_message_per_field() {
    let admin = Admin::start().await;
    let s = admin.login().await;
    let mut form = fields(&s.csrf, "", "-3");
    form.retain(|(k, _)| !k.starts_with("sale"));
    form.push(("saleStart", "2030-01-02T00:00:00Z"));
    form.push(("saleEnd", "2030-01-01T00:00:00Z"));
    let answer = admin.post_form("/products", &s.cookie, &form).await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    for message in [
        "Name is required.",
        "Stock cannot be negative.",
        "Sale ends must be after Sale starts.",
    ] {
        assert!(answer.body.contains(message), "{message} missing");
    }
    // The admin's input is kept.
    assert!(answer.body.contains("value=\"2030-01-02T00:00:00Z\""));
    assert_eq!(admin.db.count_products().await.expect("count"), 0);
}

#[tokio::test]
async fn html_in_a_name_is_text_on_every_page() {
    let admin = Admin::start().await;
    let s = admin.login().await;
    let name = "<script>alert('x')</script> Phone";
    let answer = admin
        .post_form("/products", &s.cookie, &fields(&s.csrf, name, "3"))
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let id = admin.db.list_products().await.expect("list")[0].id;
    admin.record(&[(1, id, 1_000)]).await;
    for page in [
        "/products".to_string(),
        "/".to_string(),
        format!("/products/{id}/edit"),
        format!("/products/{id}/delete"),
        "/orders".to_string(),
    ] {
        let answer = admin.get(&page, &s.cookie).await;
        assert_eq!(answer.status, 200, "{page}");
        assert!(
            !answer.body.contains("<script>alert"),
            "{page} runs the name"
        );
        assert!(
            answer.body.contains("&lt;script&gt;"),
            "{page} shows the name"
        );
    }
}

#[tokio::test]
async fn a_form_without_the_session_csrf_token_changes_nothing() {
    let admin = Admin::start().await;
    let s = admin.login().await;
    let mut form = fields("not-the-token", "Phone", "3");
    let answer = admin.post_form("/products", &s.cookie, &form).await;
    assert_eq!(answer.status, 403);
    form.retain(|(k, _)| *k != "csrf");
    assert_eq!(
        admin.post_form("/products", &s.cookie, &form).await.status,
        403
    );
    assert_eq!(admin.db.count_products().await.expect("count"), 0);
}

#[tokio::test]
async fn add_edit_and_delete_keep_the_stock_store_in_step() {
    stock_edits_keep_orders_in_flight(Admin::start().await).await;
}

#[tokio::test]
async fn on_redis_stock_edits_keep_orders_in_flight_too() {
    flashsale_testkit::require("Redis", flashsale_testkit::services::REDIS_ADDR);
    let prefix = format!("{}:", flashsale_testkit::unique_name("fs_admin_test"));
    let redis = flashsale_core::stock::RedisStock::connect("redis://127.0.0.1:6379/", &prefix)
        .await
        .expect("connect to Redis");
    stock_edits_keep_orders_in_flight(Admin::start_with(std::sync::Arc::new(redis)).await).await;
    flashsale_testkit::delete_redis_keys(&prefix);
}

/// Add a product, sell some (one recorded, two in flight), edit its stock, delete it.
async fn stock_edits_keep_orders_in_flight(admin: Admin) {
    let s = admin.login().await;
    let answer = admin
        .post_form(
            "/products",
            &s.cookie,
            &fields(&s.csrf, "Pocket Phone", "10"),
        )
        .await;
    assert_eq!(answer.status, 303);
    let id = admin.db.list_products().await.expect("list")[0].id;
    assert_eq!(
        answer.header("location"),
        format!("/products?done=added&id={id}")
    );
    let list = admin.get(answer.header("location"), &s.cookie).await;
    assert!(list.body.contains(&format!("Product {id} added.")));
    assert_eq!(admin.stock.remaining(id).await.expect("store"), Some(10));

    // A sale runs: one order recorded (stock 9 in the database), two still on the queue.
    assert_eq!(
        admin.stock.reserve(id, 1, "o1").await.expect("reserve"),
        flashsale_core::stock::Reservation::Reserved
    );
    admin.stock.claim(id, &[(1, "o1")]).await.expect("claim");
    admin.record(&[(1, id, 1_000)]).await;
    for user in [2, 3] {
        admin
            .stock
            .reserve(id, user, &format!("o{user}"))
            .await
            .expect("reserve");
    }
    // The admin sets 20 units: the two in flight will take theirs from those 20.
    let edit = admin.get(&format!("/products/{id}/edit"), &s.cookie).await;
    assert!(
        edit.body.contains("value=\"9\""),
        "the form shows the database's stock"
    );
    let answer = admin
        .post_form(
            &format!("/products/{id}"),
            &s.cookie,
            &fields(&s.csrf, "Pocket Phone 2", "20"),
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let p = admin
        .db
        .get_product(id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((p.name.as_str(), p.stock), ("Pocket Phone 2", 20));
    assert_eq!(admin.stock.remaining(id).await.expect("store"), Some(18));
    // Shopper 1's order is in the database: still one per shopper.
    assert_eq!(
        admin.stock.reserve(id, 1, "again").await.expect("reserve"),
        flashsale_core::stock::Reservation::AlreadyHeld
    );

    // Editing only the name leaves the store alone.
    admin
        .post_form(
            &format!("/products/{id}"),
            &s.cookie,
            &fields(&s.csrf, "Pocket Phone 3", "20"),
        )
        .await;
    assert_eq!(admin.stock.remaining(id).await.expect("store"), Some(18));

    let confirm = admin
        .get(&format!("/products/{id}/delete"), &s.cookie)
        .await;
    assert!(confirm.body.contains("Delete “Pocket Phone 3”?"));
    assert!(confirm.body.contains("its 1 order(s) stay"));
    let answer = admin
        .post_form(
            &format!("/products/{id}/delete"),
            &s.cookie,
            &[("csrf", &s.csrf)],
        )
        .await;
    assert_eq!(answer.status, 303);
    assert!(admin.db.get_product(id).await.expect("get").is_none());
    let missing = admin.get(&format!("/products/{id}/edit"), &s.cookie).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains(&format!("there is no product {id}")));
}

#[tokio::test]
async fn republishing_renders_only_what_changed_and_says_so() {
    let admin = Admin::start().await;
    let id = admin
        .db
        .insert_product(&product("Pocket Phone", 5))
        .await
        .expect("insert");
    let s = admin.login().await;
    let first = admin
        .post_form("/publish", &s.cookie, &[("csrf", &s.csrf)])
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.text().contains(&format!("product/{id}.html")));
    let page = admin.dir.path().join(format!("dist/product/{id}.html"));
    assert!(std::fs::read_to_string(&page)
        .expect("page written")
        .contains("Pocket Phone"));

    let again = admin
        .post_form("/publish", &s.cookie, &[("csrf", &s.csrf)])
        .await;
    assert!(again.body.contains("Nothing changed"), "{}", again.body);

    let mut edited = product("Pocket Phone Pro", 5);
    edited.price_cents = 2_500;
    admin.db.update_product(id, &edited).await.expect("update");
    let third = admin
        .post_form("/publish", &s.cookie, &[("csrf", &s.csrf)])
        .await;
    assert!(third.text().contains(&format!("product/{id}.html")));
    assert!(third.body.contains("index.html"));
    assert!(
        !third.text().contains("user/login.html"),
        "unchanged pages are not listed"
    );
    assert!(std::fs::read_to_string(&page)
        .expect("page")
        .contains("Pocket Phone Pro"));
    // The publish page remembers the last run.
    let last = admin.get("/publish", &s.cookie).await;
    assert!(last.body.contains("Last run"));
}

/// The admin keeps its site open between republishes, so an edit renders a few pages; what
/// changed elsewhere still reaches the pages: stock lowered by the worker as orders are
/// recorded, and a publish by another process (the CLI), after which the admin compares every
/// page again instead of trusting what it wrote last.
#[tokio::test]
async fn republishing_follows_changes_made_outside_the_admin() {
    let admin = Admin::start().await;
    let id = admin
        .db
        .insert_product(&product("Pocket Phone", 5))
        .await
        .expect("insert");
    let s = admin.login().await;
    let form = [("csrf", s.csrf.as_str())];
    let publish = || admin.post_form("/publish", &s.cookie, &form);
    assert_eq!(publish().await.status, 200);
    let page = admin.dir.path().join(format!("dist/product/{id}.html"));
    let read = || std::fs::read_to_string(&page).expect("the product page");
    assert!(read().contains("5 left"), "{}", read());

    // The worker records two orders: the database's stock is now 3.
    admin.record(&[(1, id, 1), (2, id, 2)]).await;
    let after_orders = publish().await;
    assert!(after_orders.text().contains(&format!("product/{id}.html")));
    assert!(read().contains("3 left"), "{}", read());

    // Another process publishes the site from another catalogue.
    let mut elsewhere = admin.db.list_products().await.expect("products");
    elsewhere[0].name = "Renamed by the CLI".into();
    let options =
        flashsale_sitegen::SiteOptions::new(admin.dir.path().join("dist"), 10, "Test Shop");
    flashsale_sitegen::render_site(&elsewhere, &options).expect("the other publish");
    assert!(read().contains("Renamed by the CLI"));
    // The database did not change since the admin's last Republish, yet the page is put back.
    let restored = publish().await;
    assert!(
        restored.text().contains(&format!("product/{id}.html")),
        "{}",
        restored.body
    );
    assert!(read().contains("Pocket Phone"), "{}", read());
    assert!(!read().contains("Renamed by the CLI"));
}

/// A Republish reads only the products written since the last one: a product added and one
/// deleted by another process still reach the pages. When the log of writes no longer
/// reaches back to the last Republish (another admin pruned it), everything is compared.
#[tokio::test]
async fn republishing_reads_what_was_written_since_and_compares_all_when_it_cannot_tell() {
    let admin = Admin::start().await;
    let kept = admin
        .db
        .insert_product(&product("Kept", 5))
        .await
        .expect("insert");
    let gone = admin
        .db
        .insert_product(&product("Gone", 5))
        .await
        .expect("insert");
    let s = admin.login().await;
    let form = [("csrf", s.csrf.as_str())];
    let publish = || admin.post_form("/publish", &s.cookie, &form);
    assert_eq!(publish().await.status, 200);
    let page = |id: i64| admin.dir.path().join(format!("dist/product/{id}.html"));
    assert!(page(gone).exists());

    // Another process adds a product and deletes one.
    let added = admin
        .db
        .insert_product(&product("Added", 3))
        .await
        .expect("insert");
    assert!(admin.db.delete_product(gone).await.expect("delete"));
    let second = publish().await;
    assert!(second.text().contains(&format!("product/{added}.html")));
    assert!(second.text().contains(&format!("product/{gone}.html")));
    assert!(page(added).exists(), "the added product's page");
    assert!(!page(gone).exists(), "the deleted product's page stays");

    // An edit, then the log pruned past where this admin read: it cannot tell what changed.
    admin
        .db
        .update_product(kept, &product("Kept, renamed", 5))
        .await
        .expect("update");
    admin
        .db
        .prune_product_changes(i64::MAX)
        .await
        .expect("prune");
    assert_eq!(publish().await.status, 200);
    let text = std::fs::read_to_string(page(kept)).expect("the kept page");
    assert!(text.contains("Kept, renamed"), "{text}");
}
