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
        // Sold out before the shop opened: the catalogue and its page say so, with no Buy.
        product(
            "Instant Camera",
            0,
            7_900,
            "camera",
            "Prints in ninety seconds. This run is gone; the next one is on its way.",
        ),
        product(
            "Trail Backpack",
            40,
            6_900,
            "backpack",
            "28 litres, a padded laptop sleeve, and a rain cover tucked in the base.",
        ),
        product(
            "Compact Keyboard",
            25,
            11_900,
            "keyboard",
            "Hot-swappable switches in a 75% layout. Clacks politely.",
        ),
        product(
            "Bluetooth Speaker",
            60,
            4_900,
            "speaker",
            "Twelve hours of sound from a can-sized speaker that shrugs off rain.",
        ),
        product(
            "Polarised Sunglasses",
            30,
            3_900,
            "sunglasses",
            "Category 3 lenses in a light acetate frame, with a hard case.",
        ),
        product(
            "Enamel Camp Mug",
            200,
            1_400,
            "mug",
            "Steel with a glossy enamel coat: from the campfire to the dishwasher.",
        ),
        product(
            "Desk Lamp",
            35,
            4_500,
            "lamp",
            "Warm to daylight in one dial, with a base heavy enough to stay put.",
        ),
        // The drop: its waiting room is open at once (the prequeue starts 15 minutes ahead by
        // default), the order of the line is drawn at the start, then two shoppers a second
        // are let in to buy.
        NewProduct {
            sale_start: Some(flashsale_core::domain::now_unix() + DROP_IN_SECS),
            queue: true,
            admit_per_second: 2,
            ..product(
                "Mini Drone (limited drop)",
                50,
                17_900,
                "drone",
                "Fifty drones, released five minutes after the shop opens. Join the line: the \
                 order is drawn at the start, so arriving early gains nothing.",
            )
        },
    ]
}

/// How long after the first start the demo's drop goes on sale: long enough to look around
/// and join the line, short enough to watch it open.
const DROP_IN_SECS: i64 = 300;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_demo_shows_the_shop_off() {
        let products = catalogue();
        assert_eq!(products.len(), 12, "a dozen products");
        let images: HashSet<&str> = products.iter().map(|p| p.image.as_str()).collect();
        assert_eq!(images.len(), products.len(), "each with its own picture");
        assert_eq!(
            products.iter().filter(|p| p.stock == 0).count(),
            1,
            "one sold out"
        );
        let drops: Vec<_> = products.iter().filter(|p| p.sale_start.is_some()).collect();
        assert_eq!(drops.len(), 1, "one drop");
        let starts_in = drops[0].sale_start.unwrap_or(0) - flashsale_core::domain::now_unix();
        assert!(
            (60..=600).contains(&starts_in),
            "a few minutes away: {starts_in} s"
        );
    }
}
