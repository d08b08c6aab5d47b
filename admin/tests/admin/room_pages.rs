//! The waiting room in the admin's pages: the form's fields and their errors, the products
//! list's column, the pause / rate panel of a queued product's edit page, and the dashboard's
//! live numbers of each room.

use crate::util::Admin;

fn queued<'a>(csrf: &'a str, queue: &'a str, rate: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("name", "Hyped Sneaker"),
        ("stock", "200"),
        ("price", "189.00"),
        ("image", "/static/img/sneakers.svg"),
        ("description", "The drop."),
        ("saleStart", "2030-01-01T10:00:00Z"),
        ("saleEnd", ""),
        ("queue", queue),
        ("admitPerSecond", rate),
    ]
}

#[tokio::test]
async fn a_wrong_rate_is_marked_next_to_its_field() {
    let admin = Admin::start().await;
    let s = admin.login().await;
    let answer = admin
        .post_form("/products", &s.cookie, &queued(&s.csrf, "on", "fast"))
        .await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert!(
        answer.body.contains(r#"id="error-admitPerSecond""#),
        "{}",
        answer.body
    );
    // What the admin typed stays, the box stays ticked.
    assert!(answer.body.contains(r#"value="fast""#));
    assert!(answer.body.contains(r#"name="queue" value="on" checked"#));
    // No pause panel for a product that is not saved.
    assert!(!answer.body.contains(r#"id="room-control""#));
}

#[tokio::test]
async fn the_list_and_the_edit_page_show_the_room_and_its_controls() {
    let admin = Admin::start().await;
    let s = admin.login().await;
    let answer = admin
        .post_form("/products", &s.cookie, &queued(&s.csrf, "on", "25"))
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let mut plain = queued(&s.csrf, "", "");
    plain[1] = ("name", "Plain Phone");
    assert_eq!(
        admin.post_form("/products", &s.cookie, &plain).await.status,
        303
    );
    let products = admin.db.list_products().await.expect("list");
    let drop = products
        .iter()
        .find(|p| p.queue)
        .expect("the queued product");
    let phone = products
        .iter()
        .find(|p| !p.queue)
        .expect("the plain product");

    let list = admin.get("/products", &s.cookie).await;
    assert!(list.body.contains("<th>Waiting room</th>"), "{}", list.body);
    let row = |id: i64| {
        let at = list
            .body
            .find(&format!(r#"<tr data-id="{id}">"#))
            .expect("a row");
        list.body[at..at + list.body[at..].find("</tr>").expect("row end")].to_string()
    };
    assert!(row(drop.id).contains("</span> 25/s"), "{}", row(drop.id));
    assert!(row(phone.id).contains(">none<"), "{}", row(phone.id));

    let edit = admin
        .get(&format!("/products/{}/edit", drop.id), &s.cookie)
        .await;
    assert!(edit.body.contains(r#"name="queue" value="on" checked"#));
    assert!(edit.body.contains(r#"id="room-control""#), "{}", edit.body);
    assert!(edit.body.contains(r#"id="room-pause""#));
    assert!(edit
        .body
        .contains("Letting in <strong>25</strong> shoppers a second"));
    let plain_edit = admin
        .get(&format!("/products/{}/edit", phone.id), &s.cookie)
        .await;
    assert!(!plain_edit.body.contains(r#"id="room-control""#));

    // Pause: the panel's form is the product's update with admitPerSecond 0.
    let mut pause = queued(&s.csrf, "on", "0");
    pause[2] = ("stock", "200");
    let answer = admin
        .post_form(&format!("/products/{}", drop.id), &s.cookie, &pause)
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let paused = admin
        .db
        .get_product(drop.id)
        .await
        .expect("get")
        .expect("there");
    assert_eq!((paused.queue, paused.admit_per_second), (true, 0));
    let edit = admin
        .get(&format!("/products/{}/edit", drop.id), &s.cookie)
        .await;
    assert!(
        edit.body.contains("The line is <strong>paused</strong>"),
        "{}",
        edit.body
    );
    assert!(edit.body.contains(">Resume</button>"));
    assert!(!edit.body.contains(r#"id="room-pause""#));
    let list = admin.get("/products", &s.cookie).await;
    assert!(list.body.contains(">paused<"));

    // The script the panel needs is served.
    let script = admin.get("/static/room-control.js", &s.cookie).await;
    assert_eq!(script.status, 200);
}

#[tokio::test]
async fn the_dashboard_shows_each_waiting_room_live() {
    let admin = Admin::start().await;
    let s = admin.login().await;
    let answer = admin
        .post_form("/products", &s.cookie, &queued(&s.csrf, "on", "40"))
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let mut plain = queued(&s.csrf, "", "");
    plain[1] = ("name", "Plain Phone");
    assert_eq!(
        admin.post_form("/products", &s.cookie, &plain).await.status,
        303
    );
    let products = admin.db.list_products().await.expect("list");
    let drop = products.iter().find(|p| p.queue).expect("queued").id;
    let phone = products.iter().find(|p| !p.queue).expect("plain").id;

    let page = admin.get("/", &s.cookie).await;
    assert!(page.body.contains(r#"id="rooms""#), "{}", page.body);
    assert!(page.body.contains(&format!(r#"data-room="{drop}""#)));
    assert!(!page.body.contains(&format!(r#"data-room="{phone}""#)));
    for label in [
        "In line",
        "Admitted",
        "Admitted / min",
        "Wait of the last in line",
        "Challenges refused",
    ] {
        assert!(page.body.contains(&format!("<dt>{label}</dt>")), "{label}");
    }
    // Nothing is admitted before the sale starts and the line is drawn.
    assert!(page.body.contains(">not started</span>"), "{}", page.body);

    // The numbers the page's script reads, under the names it reads them by.
    let stats = admin.get("/dashboard.json", &s.cookie).await;
    let json: serde_json::Value = serde_json::from_str(&stats.body).expect("JSON");
    let row = |id: i64| {
        json["products"]
            .as_array()
            .expect("products")
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .expect("a row")
    };
    let room = &row(drop)["queue"];
    for key in [
        "inLine",
        "admitted",
        "admittedPerMinute",
        "challengesRefused",
        "admitPerSecond",
    ] {
        assert!(room[key].is_u64(), "{key} in {room}");
    }
    assert!(room.get("lastWaitSeconds").is_some(), "{room}");
    assert!(row(phone)["queue"].is_null());
    assert_eq!(room["drawn"], false);
}

#[tokio::test]
async fn without_a_waiting_room_the_dashboard_has_no_room_panel() {
    let admin = Admin::start().await;
    let s = admin.login().await;
    let plain = queued(&s.csrf, "", "");
    assert_eq!(
        admin.post_form("/products", &s.cookie, &plain).await.status,
        303
    );
    let page = admin.get("/", &s.cookie).await;
    assert!(page.body.contains(r#"id="rooms" hidden"#), "{}", page.body);
}
