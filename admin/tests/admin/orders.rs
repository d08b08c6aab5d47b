//! The orders page: names, paging, filters, and a CSV export a spreadsheet cannot be
//! tricked by.

use crate::util::{product, Admin};

#[tokio::test]
async fn orders_are_paged_and_filtered_with_names() {
    let admin = Admin::start().await;
    let phone = admin
        .db
        .insert_product(&product("Pocket Phone", 100))
        .await
        .expect("insert");
    let watch = admin
        .db
        .insert_product(&product("Smart Watch", 100))
        .await
        .expect("insert");
    let ann = admin
        .db
        .create_user("Annie", "ann", "hash")
        .await
        .expect("user");
    let mut orders = vec![(ann, watch, 999_000)];
    orders.extend((1..=55).map(|u| (1000 + u, phone, u * 1000)));
    admin.record(&orders).await;
    let s = admin.login().await;

    let page1 = admin.get("/orders", &s.cookie).await;
    assert_eq!(page1.status, 200);
    assert!(
        page1.body.contains("56 order(s), page 1 of 2."),
        "{}",
        page1.body
    );
    assert!(page1
        .body
        .contains("Annie <span class=\"muted\">(ann)</span>"));
    assert!(page1.body.contains("Smart Watch"));
    assert!(page1.body.contains("href=\"/orders?page=2\""));
    let page2 = admin.get("/orders?page=2", &s.cookie).await;
    assert!(page2.body.contains("page 2 of 2"));
    assert!(page2.body.contains("shopper 1001 (gone)"));

    let by_shopper = admin.get("/orders?shopper=ANN", &s.cookie).await;
    assert!(
        by_shopper.body.contains("1 order(s)."),
        "{}",
        by_shopper.body
    );
    let by_product = admin.get("/orders?product=watch", &s.cookie).await;
    assert!(by_product.body.contains("1 order(s)."));
    assert!(by_product
        .body
        .contains("href=\"/orders.csv?product=watch\""));
    let by_id = admin
        .get(&format!("/orders?product={phone}"), &s.cookie)
        .await;
    assert!(by_id.body.contains("55 order(s)"));
}

#[tokio::test]
async fn the_csv_export_defuses_formulas() {
    let admin = Admin::start().await;
    let id = admin
        .db
        .insert_product(&product("=HYPERLINK(\"http://evil\",\"click\")", 10))
        .await
        .expect("insert");
    let mallory = admin
        .db
        .create_user("@SUM(1+1)", "-2+3", "hash")
        .await
        .expect("user");
    let ann = admin
        .db
        .create_user("Ann, \"the\" first", "ann", "hash")
        .await
        .expect("user");
    admin
        .record(&[(mallory, id, 2_000), (ann, id, 1_000)])
        .await;
    let s = admin.login().await;

    let csv = admin.get("/orders.csv", &s.cookie).await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert!(csv.header("content-disposition").contains("orders.csv"));
    let lines: Vec<&str> = csv.body.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "order_id,accepted_at,user_id,user_name,nick_name,product_id,product_name,price,currency,status"
    );
    assert!(
        lines[1].contains(",19.99,USD,"),
        "the price, as a plain amount, and its currency: {}",
        lines[1]
    );
    assert_eq!(
        lines.len(),
        4,
        "header, two orders, and the final line end: {lines:?}"
    );
    assert!(lines[1].contains(",'-2+3,'@SUM(1+1),"), "{}", lines[1]);
    assert!(
        lines[1].contains("\"'=HYPERLINK(\"\"http://evil\"\",\"\"click\"\")\""),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(",ann,\"Ann, \"\"the\"\" first\","),
        "{}",
        lines[2]
    );
    assert!(lines[1].ends_with(",confirmed"));
    // Filters apply to the export too.
    let only_ann = admin.get("/orders.csv?shopper=ann", &s.cookie).await;
    assert_eq!(
        only_ann
            .body
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .count(),
        2
    );
}

/// Regression (issue 14, finding 8): a `;` in a user name went out unquoted, so a spreadsheet
/// splitting on `;` (European locales) made `=…` after it a formula cell of its own.
#[tokio::test]
async fn finding_8_a_semicolon_user_name_stays_one_quoted_cell() {
    let admin = Admin::start().await;
    let id = admin
        .db
        .insert_product(&product("Phone", 10))
        .await
        .expect("insert");
    let eve = admin
        .db
        .create_user("Eve", "eve;=cmd|' /C calc'!A0", "hash")
        .await
        .expect("user");
    admin.record(&[(eve, id, 1_000)]).await;
    let s = admin.login().await;
    let csv = admin.get("/orders.csv", &s.cookie).await;
    let line = csv.body.split("\r\n").nth(1).expect("one order");
    assert!(
        line.contains(",\"eve;=cmd|' /C calc'!A0\","),
        "the name must be one quoted cell: {line}"
    );
    // Split as a `;` spreadsheet would, outside quotes: no cell starts a formula.
    let mut cells = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => cells.push(String::new()),
            c => cells.last_mut().expect("a cell").push(c),
        }
    }
    assert!(
        cells.iter().all(|c| !c.starts_with(['=', '+', '-', '@'])),
        "{cells:?}"
    );
}

#[tokio::test]
async fn the_dashboard_counts_each_product() {
    let admin = Admin::start().await;
    let id = admin
        .db
        .insert_product(&product("Pocket Phone", 10))
        .await
        .expect("insert");
    let s = admin.login().await;
    // Loaded into the store by hand, as the gateway does at start.
    admin.stock.load(id, 10, &[]).await.expect("load");
    // Three shoppers hold a unit; the worker has recorded two of their orders so far.
    for shopper in [7, 8, 9] {
        admin
            .stock
            .reserve(id, shopper, &format!("o{shopper}"))
            .await
            .expect("reserve");
    }
    let now = flashsale_core::domain::now_unix_ms();
    admin
        .record(&[(7, id, now - 5_000), (8, id, now - 600_000)])
        .await;

    let stats = admin.get("/dashboard.json", &s.cookie).await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    let stats = stats.json();
    let p = &stats["products"][0];
    assert_eq!(p["name"], "Pocket Phone");
    assert_eq!(p["stock"], 8, "two orders took two units in the database");
    assert_eq!(p["remaining"], 7, "left to sell");
    assert_eq!(p["reservedNow"], 1, "shopper 9's order is on its way");
    assert_eq!(p["confirmed"], 2);
    assert_eq!(p["revenue"], "$39.98", "two confirmed at $19.99");
    assert_eq!(stats["revenue"], "$39.98");
    assert_eq!(p["lastMinute"], 1);
    assert_eq!(stats["lastMinute"], 1);
    assert_eq!(stats["chart"]["bars"].as_array().expect("bars").len(), 30);
    assert_eq!(stats["chartPeak"], 1);
    let page = admin.get("/", &s.cookie).await;
    assert!(page.body.contains("<g id=\"chart\""));
    assert!(page.body.contains(">Left to sell</th>"));
    assert!(page.body.contains(">Reserved now</th>"));
    assert!(!page.body.contains("(database)") && !page.body.contains("(store)"));
    assert!(page.body.contains("/static/dashboard.js"));
    assert!(page
        .body
        .contains(r#"<strong id="revenue">$39.98</strong>"#));
    let orders = admin.get("/orders", &s.cookie).await;
    assert!(
        orders.body.contains(r#"<td class="num">$19.99</td>"#),
        "each order's price"
    );
    assert!(orders
        .body
        .contains(r#"<strong id="orders-revenue">$39.98</strong>"#));
}
