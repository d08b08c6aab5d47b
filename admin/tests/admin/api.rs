//! The JSON API as a script uses it: products CRUD with clear errors, orders by page,
//! publish.

use crate::util::Admin;
use serde_json::json;

fn phone() -> serde_json::Value {
    json!({
        "name": "Pocket Phone",
        "stock": 10,
        "price": "199.00",
        "image": "/static/img/phone.svg",
        "description": "A phone.",
        "saleStart": "2030-01-01T10:00:00Z",
        "saleEnd": null
    })
}

#[tokio::test]
async fn products_can_be_created_read_updated_and_deleted() {
    let admin = Admin::start().await;
    let created = admin.api("POST", "/api/products", Some(phone())).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let p = created.json();
    let id = p["id"].as_i64().expect("id");
    assert_eq!(p["price"], "199.00");
    assert_eq!(p["priceCents"], 19_900);
    assert_eq!(p["saleStart"], "2030-01-01T10:00:00Z");
    assert_eq!(p["saleEnd"], serde_json::Value::Null);

    let list = admin.api("GET", "/api/products", None).await;
    assert_eq!(list.json().as_array().expect("array").len(), 1);
    let one = admin.api("GET", &format!("/api/products/{id}"), None).await;
    assert_eq!(one.json()["name"], "Pocket Phone");

    let mut edit = phone();
    edit["stock"] = json!(3);
    edit["price"] = json!(12.5);
    let updated = admin
        .api("PUT", &format!("/api/products/{id}"), Some(edit))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.json()["priceCents"], 1_250);
    assert_eq!(admin.stock.remaining(id).await.expect("store"), Some(3));

    let deleted = admin
        .api("DELETE", &format!("/api/products/{id}"), None)
        .await;
    assert_eq!(deleted.status, 204);
    let gone = admin.api("GET", &format!("/api/products/{id}"), None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["error"], format!("there is no product {id}"));
    let again = admin
        .api("DELETE", &format!("/api/products/{id}"), None)
        .await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let admin = Admin::start().await;
    let mut bad = phone();
    bad["stock"] = json!(-1);
    bad["name"] = json!("");
    let answer = admin.api("POST", "/api/products", Some(bad)).await;
    assert_eq!(answer.status, 422);
    let body = answer.json();
    assert_eq!(body["fields"]["stock"], "Stock cannot be negative.");
    assert_eq!(body["fields"]["name"], "Name is required.");

    let mut typo = phone();
    typo["salesEnd"] = json!("2030-01-01T00:00:00Z");
    let answer = admin.api("POST", "/api/products", Some(typo)).await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.json()["error"]
            .as_str()
            .expect("message")
            .contains("salesEnd"),
        "{}",
        answer.body
    );

    let answer = admin.api("GET", "/api/products/abc", None).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json()["error"]
        .as_str()
        .expect("message")
        .contains("whole number"));
    let answer = admin.api("GET", "/api/orders?page=0", None).await;
    assert_eq!(answer.status, 400);

    let mut huge = phone();
    huge["description"] = json!("x".repeat(100_000));
    let answer = admin.api("POST", "/api/products", Some(huge)).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(answer.json()["error"]
        .as_str()
        .expect("message")
        .contains("larger than"));
    assert_eq!(admin.db.count_products().await.expect("count"), 0);
}

#[tokio::test]
async fn orders_come_by_page_with_names_and_publish_reports_changes() {
    let admin = Admin::start().await;
    let id = admin
        .api("POST", "/api/products", Some(phone()))
        .await
        .json()["id"]
        .as_i64()
        .expect("id");
    let ann = admin
        .db
        .create_user("Ann", "ann", "hash")
        .await
        .expect("user");
    let mut orders: Vec<(i64, i64, i64)> = vec![(ann, id, 5_000)];
    orders.extend((1000..1060).map(|u| (u, id, 1_000 + u)));
    admin.record(&orders).await;

    let first = admin.api("GET", "/api/orders", None).await.json();
    assert_eq!(first["total"], 61);
    assert_eq!(first["pages"], 2);
    assert_eq!(first["orders"].as_array().expect("orders").len(), 50);
    let newest = &first["orders"][0];
    assert_eq!(newest["userName"], "ann");
    assert_eq!(newest["nickName"], "Ann");
    assert_eq!(newest["productName"], "Pocket Phone");
    assert_eq!(newest["createdAt"], "1970-01-01T00:00:05Z");
    let second = admin.api("GET", "/api/orders?page=2", None).await.json();
    assert_eq!(second["orders"].as_array().expect("orders").len(), 11);

    let published = admin.api("POST", "/api/publish", None).await;
    assert_eq!(published.status, 200, "{}", published.body);
    // No gateway runs in this process: the answer says how soon gateways follow.
    assert_eq!(published.json()["live"], false);
    assert_eq!(published.json()["liveWithinMs"], 500);
    let changed = published.json()["changed"].clone();
    assert!(
        changed
            .as_array()
            .expect("changed")
            .contains(&json!(format!("product/{id}.html"))),
        "{changed}"
    );
}
