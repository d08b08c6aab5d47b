//! The demo catalogue a first `flashsale up` starts with, so there is something to buy.

use flashsale_core::domain::NewProduct;
use flashsale_core::Db;

pub async fn seed_if_empty(db: &Db) -> Result<bool, flashsale_core::db::DbError> {
    if db.count_products().await? > 0 {
        return Ok(false);
    }
    for product in catalogue() {
        db.insert_product(&product).await?;
    }
    Ok(true)
}

fn catalogue() -> Vec<NewProduct> {
    let product = |name: &str, stock, price_cents, image: &str, description: &str| NewProduct {
        name: name.into(),
        stock,
        price_cents,
        image: format!("/static/img/{image}.svg"),
        description: description.into(),
        sale_start: None,
        sale_end: None,
        queue: false,
        admit_per_second: 100,
    };
    vec![
        product(
            "Pocket Phone X",
            100,
            19_900,
            "phone",
            "A phone that fits every pocket, at a price that fits every wallet. One per shopper.",
        ),
        product(
            "Studio Headphones",
            50,
            8_900,
            "headphones",
            "Closed-back, 40 mm drivers, a cable that does not tangle.",
        ),
        product(
            "Field Watch",
            10,
            12_900,
            "watch",
            "Ten only. Sapphire glass, 100 m water resistance.",
        ),
        product(
            "Runner Sneakers",
            3,
            5_900,
            "sneakers",
            "Three pairs left in the warehouse: be quick.",
        ),
        // The drop: its waiting room is open at once (the prequeue starts 15 minutes ahead by
        // default), the order of the line is drawn at the start, then two shoppers a second
        // are let in to buy.
        NewProduct {
            sale_start: Some(flashsale_core::domain::now_unix() + DROP_IN_SECS),
            queue: true,
            admit_per_second: 2,
            ..product(
                "Limited Drop Sneakers",
                50,
                17_900,
                "sneakers",
                "Fifty pairs, released ten minutes after the shop opens. Join the line: the \
                 order is drawn at the start, so arriving early gains nothing.",
            )
        },
    ]
}

/// How long after the first start the demo's drop goes on sale.
const DROP_IN_SECS: i64 = 600;
