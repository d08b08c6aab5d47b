use crate::util::RealShop;
use flashsale::stack::Parts;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storm_through_redis_rabbitmq_and_mariadb_sells_exactly_the_stock() {
    let _turn = crate::util::storm_turn().await;
    const STOCK: i64 = 100;
    let shop = Arc::new(RealShop::start(STOCK, Parts::ALL).await);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let start = Arc::new(tokio::sync::Barrier::new(500 * 3));
    let mut clicks = Vec::new();
    for uid in 1..=500 {
        for _ in 0..3 {
            let (shop, client, start) = (shop.clone(), client.clone(), start.clone());
            clicks.push(tokio::spawn(async move {
                start.wait().await;
                (uid, shop.buy(&client, uid).await)
            }));
        }
    }
    let mut answers: HashMap<String, usize> = HashMap::new();
    let mut winners = HashSet::new();
    for click in clicks {
        let (uid, (status, result)) = click.await.expect("click");
        // 503 is an honest answer under a storm on a starved machine (a store call or a
        // publish confirm past its deadline): nothing was reserved, which `buyers == winners`
        // and the audit check.
        assert!(
            matches!(
                (status, result.as_str()),
                (202, "queued")
                    | (410, "sold_out")
                    | (409, "already_bought")
                    | (429, "too_fast")
                    | (503, "unavailable")
            ),
            "unexpected answer {status} {result}"
        );
        if status == 202 {
            assert!(winners.insert(uid), "shopper {uid} got two units");
        }
        *answers.entry(result).or_default() += 1;
    }
    assert!(winners.len() as i64 <= STOCK, "oversold: {answers:?}");
    // What the 503s left sells afterwards, each unit once: the whole stock, whatever the load.
    let in_storm = winners.len();
    assert!(in_storm > 0, "the storm sold nothing: {answers:?}");
    let client = &client;
    crate::util::sell_the_rest(STOCK, &mut winners, 501, |uid| shop.buy(client, uid)).await;
    eprintln!(
        "storm answers {answers:?}; {in_storm} units sold in the storm, {} after it",
        winners.len() - in_storm
    );
    let sold = STOCK;

    let orders = shop
        .wait_for_orders(&winners, Duration::from_secs(30))
        .await;
    let buyers: HashSet<i64> = orders.iter().map(|o| o.user_id).collect();
    assert_eq!(orders.len() as i64, sold);
    assert_eq!(buyers, winners);
    let product = shop
        .db
        .get_product(shop.product_id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(product.stock, STOCK - sold);

    let report = shop.audit().await;
    assert!(report.consistent(), "{report}");
    Arc::into_inner(shop).expect("sole owner").cleanup().await;
}

/// With the cooldown out of the way, a storm of simultaneous clicks per shopper reaches the
/// stock store's own rule: one unit per shopper, whatever the cooldown does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_clicks_of_one_shopper_get_one_unit_without_the_cooldown() {
    let _turn = crate::util::storm_turn().await;
    const SHOPPERS: i64 = 50;
    const CLICKS: usize = 8;
    let shop = Arc::new(RealShop::start_with(&[1_000], Parts::ALL, |c| c.cooldown_secs = 0).await);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let start = Arc::new(tokio::sync::Barrier::new(SHOPPERS as usize * CLICKS));
    let mut clicks = Vec::new();
    for uid in 1..=SHOPPERS {
        for _ in 0..CLICKS {
            let (shop, client, start) = (shop.clone(), client.clone(), start.clone());
            clicks.push(tokio::spawn(async move {
                start.wait().await;
                (uid, shop.buy(&client, uid).await)
            }));
        }
    }
    let mut per_shopper: HashMap<i64, HashMap<String, usize>> = HashMap::new();
    for click in clicks {
        let (uid, (status, result)) = click.await.expect("click");
        assert!(
            matches!(
                (status, result.as_str()),
                (202, "queued") | (409, "already_bought") | (503, "unavailable")
            ),
            "unexpected answer {status} {result}"
        );
        *per_shopper
            .entry(uid)
            .or_default()
            .entry(result)
            .or_default() += 1;
    }
    let mut winners = HashSet::new();
    let mut refused = 0;
    for (uid, answers) in &per_shopper {
        let queued = answers.get("queued").copied().unwrap_or(0);
        assert!(queued <= 1, "shopper {uid} got {queued} units: {answers:?}");
        if queued == 1 {
            winners.insert(*uid);
        }
        refused += answers.get("already_bought").copied().unwrap_or(0);
    }
    // The store's rule was what answered: the cooldown let every click through.
    assert!(refused > 0, "no click reached the one-per-shopper rule");
    // A shopper whose every click was a 503 (on a starved machine) holds nothing: one more
    // click each buys the unit; 409 here would be a 503 that reserved.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for uid in 1..=SHOPPERS {
        while !winners.contains(&uid) {
            assert!(
                std::time::Instant::now() < deadline,
                "shopper {uid} never got a unit"
            );
            match shop.buy(&client, uid).await {
                (202, _) => {
                    winners.insert(uid);
                }
                (503, _) => tokio::time::sleep(Duration::from_millis(100)).await,
                (status, result) => panic!("shopper {uid}, with no unit: {status} {result}"),
            }
        }
    }
    let orders = shop
        .wait_for_orders(&winners, Duration::from_secs(30))
        .await;
    let buyers: HashSet<i64> = orders.iter().map(|o| o.user_id).collect();
    assert_eq!(orders.len(), winners.len());
    assert_eq!(buyers, winners);
    let report = shop.audit().await;
    assert!(report.consistent(), "{report}");
    Arc::into_inner(shop).expect("sole owner").cleanup().await;
}
