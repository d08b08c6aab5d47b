//! Waiting rooms in the admin: the product fields through the API and the form, a rate
//! change or a pause reaching the line at once, and the dashboard's numbers per line.

use crate::util::Admin;
use flashsale_core::domain::now_unix_ms;
use flashsale_core::waiting_room::{JoinRequest, LineStart, Phase};
use serde_json::json;

fn drop(rate: Option<u32>) -> serde_json::Value {
    let mut p = json!({
        "name": "Drop",
        "stock": 10,
        "price": "99.00",
        "queue": true,
    });
    if let Some(rate) = rate {
        p["admitPerSecond"] = json!(rate);
    }
    p
}

#[tokio::test]
async fn the_api_keeps_the_fields_and_a_save_sets_the_lines_rate_live() {
    let admin = Admin::start().await;
    let created = admin.api("POST", "/api/products", Some(drop(None))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let p = created.json();
    let id = p["id"].as_i64().expect("id");
    assert_eq!(p["queue"], true);
    assert_eq!(p["admitPerSecond"], 100, "the shop's default");
    let line = admin.room.line(id, None).await.expect("line");
    assert_eq!(
        line.schedule.rate_at(now_unix_ms()),
        100,
        "saved to the line"
    );

    // Paused through the API: the line stops at once.
    let paused = admin
        .api("PUT", &format!("/api/products/{id}"), Some(drop(Some(0))))
        .await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(paused.json()["admitPerSecond"], 0);
    let line = admin.room.line(id, None).await.expect("line");
    assert_eq!(line.schedule.rate_at(now_unix_ms()), 0, "paused");

    let bad = admin
        .api("PUT", &format!("/api/products/{id}"), Some(json!({"name": "Drop", "stock": 10, "price": 1, "queue": true, "admitPerSecond": -1})))
        .await;
    assert_eq!(bad.status, 400, "a negative rate is refused: {}", bad.body);
    let typo = admin
        .api(
            "POST",
            "/api/products",
            Some(json!({"name": "x", "stock": 1, "price": 1, "admitsPerSecond": 5})),
        )
        .await;
    assert_eq!(typo.status, 400, "{}", typo.body);
}

#[tokio::test]
async fn the_form_ticks_the_room_and_the_dashboard_shows_each_line() {
    let admin = Admin::start().await;
    let s = admin.login().await;
    let form = [
        ("csrf", s.csrf.as_str()),
        ("name", "Drop"),
        ("stock", "10"),
        ("price", "9.99"),
        ("queue", "on"),
        ("admitPerSecond", "0"),
    ];
    let answer = admin.post_form("/products", &s.cookie, &form).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let product = admin.db.list_products().await.expect("list").remove(0);
    assert!(product.queue);
    assert_eq!(product.admit_per_second, 0);

    // Three shoppers in the paused line, and one refused challenge.
    for user in 1..=3 {
        admin
            .room
            .join(
                product.id,
                user,
                &JoinRequest {
                    phase: Phase::Queueing,
                    start: LineStart {
                        start_ms: now_unix_ms(),
                        rate: 0,
                    },
                    challenge_id: &format!("c{user}"),
                    challenge_ttl_ms: 60_000,
                    now_ms: now_unix_ms(),
                },
            )
            .await
            .expect("join");
    }
    admin
        .room
        .add_refused(product.id, 1)
        .await
        .expect("refused");
    let stats = admin.get("/dashboard.json", &s.cookie).await;
    assert_eq!(stats.status, 200);
    let row = &stats.json()["products"][0];
    let queue = &row["queue"];
    assert_eq!(queue["inLine"], 3, "{row}");
    assert_eq!(queue["admitted"], 0, "paused: {row}");
    assert_eq!(queue["admittedPerMinute"], 0);
    assert_eq!(
        queue["lastWaitSeconds"],
        serde_json::Value::Null,
        "paused: no wait known"
    );
    assert_eq!(queue["challengesRefused"], 1);
    assert_eq!(queue["admitPerSecond"], 0);
}
