//! The waiting room on embedded defaults: a queued product sells only to admitted shoppers,
//! every bad challenge is refused, and the line moves through its states.

use crate::util::{product, TestShop};
use flashsale_core::domain::{now_unix, NewProduct};
use flashsale_core::waiting_room::{solve, ChallengeKey, LineStart};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Easy enough to solve in a test in microseconds.
const BITS: u8 = 6;

fn queued(name: &str, stock: i64, rate: u32) -> NewProduct {
    NewProduct {
        queue: true,
        admit_per_second: rate,
        ..product(name, stock)
    }
}

async fn shop(products: &[NewProduct], pass_secs: u64) -> TestShop {
    TestShop::start_with(products, 0, |c| {
        c.queue_pow_difficulty = BITS;
        c.queue_pass_secs = pass_secs;
        c.queue_prequeue_secs = 900;
    })
    .await
}

/// A shopper as the page's script talks to the room.
struct Shopper<'a> {
    shop: &'a TestShop,
    cookie: String,
    http: reqwest::Client,
}

impl<'a> Shopper<'a> {
    fn new(shop: &'a TestShop, uid: i64) -> Self {
        Shopper {
            shop,
            cookie: shop.cookie_header(uid),
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.shop.url))
            .header("Cookie", &self.cookie)
            .send()
            .await
            .expect("request");
        (r.status().as_u16(), r.json().await.expect("JSON"))
    }

    async fn challenge(&self, pid: i64) -> String {
        let (status, body) = self.get(&format!("/queue/{pid}/challenge")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["difficulty"], u64::from(BITS));
        body["challenge"].as_str().expect("challenge").to_string()
    }

    async fn join_with(&self, pid: i64, challenge: &str, nonce: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/queue/{pid}/join", self.shop.url))
            .header("Cookie", &self.cookie)
            .form(&[("challenge", challenge), ("nonce", nonce)])
            .send()
            .await
            .expect("join");
        (r.status().as_u16(), r.json().await.expect("JSON"))
    }

    /// Fetches a challenge, solves it, joins.
    async fn join(&self, pid: i64) -> (u16, Value) {
        let c = self.challenge(pid).await;
        self.join_with(pid, &c, &solve(&c, BITS)).await
    }

    async fn status(&self, pid: i64) -> Value {
        let (status, body) = self.get(&format!("/queue/{pid}/status")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn buy(&self, pid: i64) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/getOne?productID={pid}", self.shop.url))
            .header("Cookie", &self.cookie)
            .send()
            .await
            .expect("buy");
        (r.status().as_u16(), r.json().await.expect("JSON"))
    }

    /// Polls status until `check` holds (within `secs`), returning that status.
    async fn wait_for(
        &self,
        pid: i64,
        secs: u64,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status(pid).await;
            if check(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: still {s} after {secs} s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn remaining(shop: &TestShop, pid: i64) -> i64 {
    let body: Value = reqwest::get(format!("{}/stock/{pid}", shop.url))
        .await
        .expect("stock")
        .json()
        .await
        .expect("JSON");
    body["remaining"].as_i64().expect("remaining")
}

#[tokio::test]
async fn a_queued_product_sells_only_to_shoppers_admitted_for_it() {
    let shop = shop(
        &[
            queued("Paused drop", 5, 0),
            queued("Open drop", 5, 100),
            product("Plain", 5),
        ],
        300,
    )
    .await;
    let [paused, open, plain] = shop.product_ids[..] else {
        panic!("three products")
    };
    let ann = Shopper::new(&shop, 1);

    // Not in line: refused before anything else, and no stock moves.
    assert_eq!(
        ann.buy(paused).await,
        (403, serde_json::json!({"result": "not_admitted"}))
    );
    assert_eq!(remaining(&shop, paused).await, 5);

    // In line, but the line is paused: still not admitted.
    let (status, joined) = ann.join(paused).await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["state"], "queueing");
    assert_eq!(joined["joined"], true);
    assert_eq!(joined["position"], 1);
    assert_eq!(joined["admitted"], false);
    assert_eq!(joined["etaSeconds"], Value::Null, "paused: no estimate");
    assert_eq!(ann.buy(paused).await.1["result"], "not_admitted");
    // Joining again keeps the place.
    assert_eq!(ann.join(paused).await.1["position"], 1);

    // Admitted to the open drop: that buys the open drop, and nothing of the paused one.
    assert_eq!(ann.join(open).await.0, 200);
    let admitted = ann
        .wait_for(open, 5, "admission to the open drop", |s| {
            s["admitted"] == true
        })
        .await;
    let until = admitted["admittedUntil"].as_i64().expect("admittedUntil");
    assert!(
        (now_unix() + 290..=now_unix() + 301).contains(&until),
        "{admitted}"
    );
    assert_eq!(ann.buy(paused).await.1["result"], "not_admitted");
    assert_eq!(remaining(&shop, paused).await, 5);
    assert_eq!(ann.buy(open).await.0, 202);
    // A product without a room is bought as ever.
    assert_eq!(ann.buy(plain).await.0, 202);
    // Someone who never joined the open drop is refused there.
    assert_eq!(
        Shopper::new(&shop, 2).buy(open).await.1["result"],
        "not_admitted"
    );

    // The admin resumes the paused line (as the product save does): Ann is admitted.
    shop.stack
        .room
        .set_rate(
            paused,
            LineStart {
                start_ms: 0,
                rate: 50,
            },
            flashsale_core::domain::now_unix_ms(),
        )
        .await
        .expect("resume");
    ann.wait_for(paused, 3, "admission after resuming", |s| {
        s["admitted"] == true
    })
    .await;
    assert_eq!(ann.buy(paused).await.0, 202);
    assert_eq!(remaining(&shop, paused).await, 4);
}

#[tokio::test]
async fn an_admission_expires() {
    let shop = shop(&[queued("Drop", 5, 100)], 1).await;
    let pid = shop.product_ids[0];
    let ann = Shopper::new(&shop, 1);
    assert_eq!(ann.join(pid).await.0, 200);
    ann.wait_for(pid, 5, "admission", |s| s["admitted"] == true)
        .await;
    let expired = ann
        .wait_for(pid, 5, "the pass to expire", |s| s["admitted"] == false)
        .await;
    assert!(
        expired["admittedUntil"].as_i64().expect("until") <= now_unix(),
        "{expired}"
    );
    assert_eq!(
        ann.buy(pid).await,
        (403, serde_json::json!({"result": "not_admitted"}))
    );
    assert_eq!(remaining(&shop, pid).await, 5);
}

#[tokio::test]
async fn every_bad_challenge_is_refused_and_a_solved_one_joins_once() {
    let shop = shop(&[queued("Drop", 5, 0), queued("Other", 5, 0)], 300).await;
    let [pid, other] = shop.product_ids[..] else {
        panic!("two products")
    };
    let ann = Shopper::new(&shop, 1);
    let bob = Shopper::new(&shop, 2);
    // The gateways' key, as a forger who knew the secret would have it: only to sign the
    // expired and too-easy challenges below (a forger without it is refused first).
    let key = ChallengeKey::derive(
        shop.config
            .cookie_secret
            .as_deref()
            .expect("secret")
            .as_bytes(),
    );

    let good = ann.challenge(pid).await;
    let nonce = solve(&good, BITS);
    let bobs = bob.challenge(pid).await;
    let for_other = ann.challenge(other).await;
    let expired = key.issue(&format!("q{pid}"), 1, now_unix() - 1, BITS).text;
    let too_easy = key
        .issue(&format!("q{pid}"), 1, now_unix() + 60, BITS - 4)
        .text;
    let mut altered = good.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).expect("ascii");
    let unsolved = (0u64..)
        .map(|n| n.to_string())
        .find(|n| !flashsale_core::waiting_room::solves(&good, n, BITS))
        .expect("a nonce that fails");
    let forged =
        "1.q1.1.9999999999.6.00000000000000000000000000000000.00000000000000000000000000000000";

    let cases = [
        ("forged", forged.to_string(), "0".to_string()),
        ("altered", altered, nonce.clone()),
        ("expired", expired.clone(), solve(&expired, BITS)),
        ("another shopper's", bobs.clone(), solve(&bobs, BITS)),
        (
            "another product's",
            for_other.clone(),
            solve(&for_other, BITS),
        ),
        (
            "too little work asked",
            too_easy.clone(),
            solve(&too_easy, BITS - 4),
        ),
        ("not solved", good.clone(), unsolved),
        ("no nonce", good.clone(), String::new()),
        ("nothing", String::new(), String::new()),
    ];
    for (what, challenge, nonce) in &cases {
        let (status, body) = ann.join_with(pid, challenge, nonce).await;
        assert_eq!(
            (status, &body),
            (400, &serde_json::json!({"result": "bad_challenge"})),
            "{what}"
        );
    }
    assert_eq!(
        ann.status(pid).await["joined"],
        false,
        "no bad challenge joined"
    );

    let (status, body) = ann.join_with(pid, &good, &nonce).await;
    assert_eq!(status, 200, "the solved challenge joins: {body}");
    assert_eq!(
        ann.join_with(pid, &good, &nonce).await,
        (400, serde_json::json!({"result": "bad_challenge"})),
        "a challenge joins once"
    );
    // Another shopper's answer cannot be replayed either, even by them after Ann used it.
    assert_eq!(bob.join_with(pid, &good, &nonce).await.0, 400);

    // Without a cookie, and for a product without a room.
    let stranger = reqwest::Client::new();
    let r = stranger
        .post(format!("{}/queue/{pid}/join", shop.url))
        .form(&[("challenge", good.as_str()), ("nonce", nonce.as_str())])
        .send()
        .await
        .expect("join");
    assert_eq!(r.status(), 401);
    assert_eq!(
        ann.get("/queue/999/status").await,
        (404, serde_json::json!({"result": "no_waiting_room"}))
    );
    let r = stranger
        .get(format!("{}/queue/{pid}/join", shop.url))
        .send()
        .await
        .expect("get join");
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn the_line_is_closed_then_a_prequeue_then_drawn_at_the_start() {
    let now = now_unix();
    let later = NewProduct {
        sale_start: Some(now + 3_600),
        ..queued("Later", 5, 100)
    };
    let soon = NewProduct {
        sale_start: Some(now + 3),
        ..queued("Soon", 5, 100)
    };
    let shop = shop(&[later, soon], 300).await;
    let [later, soon] = shop.product_ids[..] else {
        panic!("two products")
    };
    let ann = Shopper::new(&shop, 1);
    let bob = Shopper::new(&shop, 2);

    let closed = ann.status(later).await;
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["opensAt"], now + 3_600 - 900);
    assert_eq!(
        ann.join(later).await,
        (403, serde_json::json!({"result": "not_open_yet"}))
    );

    for shopper in [&ann, &bob] {
        let (status, body) = shopper.join(soon).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"], "prequeue");
        assert_eq!(body["joined"], true);
        assert_eq!(body["position"], Value::Null, "no position before the draw");
    }
    // Buying before the start is refused as ever.
    assert_eq!(ann.buy(soon).await.1["result"], "not_on_sale");

    let drawn = ann
        .wait_for(soon, 8, "the draw", |s| s["state"] == "queueing")
        .await;
    let a = drawn["position"]
        .as_u64()
        .expect("a position after the draw");
    let b = bob.status(soon).await["position"]
        .as_u64()
        .expect("position");
    let mut both = [a, b];
    both.sort_unstable();
    assert_eq!(both, [1, 2], "the prequeue drawn into positions 1 and 2");
    // A newcomer comes after them.
    let cat = Shopper::new(&shop, 3);
    assert_eq!(cat.join(soon).await.1["position"], 3);
}

#[tokio::test]
async fn a_sold_out_line_has_ended_and_refuses_joins() {
    let shop = shop(&[queued("Drop", 1, 100)], 300).await;
    let pid = shop.product_ids[0];
    let ann = Shopper::new(&shop, 1);
    assert_eq!(ann.join(pid).await.0, 200);
    ann.wait_for(pid, 5, "admission", |s| s["admitted"] == true)
        .await;
    assert_eq!(ann.buy(pid).await.0, 202);

    let bob = Shopper::new(&shop, 2);
    let ended = bob
        .wait_for(pid, 5, "the line to end", |s| s["state"] == "ended")
        .await;
    assert_eq!(ended["soldOut"], true, "{ended}");
    assert_eq!(
        bob.join(pid).await,
        (403, serde_json::json!({"result": "ended"}))
    );
}

#[tokio::test]
async fn with_register_pow_difficulty_an_account_costs_a_solved_challenge_once() {
    let shop = TestShop::start_with(&[], 0, |c| c.register_pow_difficulty = BITS).await;
    let http = shop.browser();
    let challenge = || async {
        let body: Value = http
            .get(format!("{}/user/challenge", shop.url))
            .send()
            .await
            .expect("challenge")
            .json()
            .await
            .expect("JSON");
        assert_eq!(body["difficulty"], u64::from(BITS));
        body["challenge"].as_str().expect("challenge").to_string()
    };
    let register = |name: &'static str, challenge: String, nonce: String| {
        let http = http.clone();
        let url = format!("{}/user/register", shop.url);
        async move {
            http.post(url)
                .form(&[
                    ("nickName", name),
                    ("userName", name),
                    ("password", "correct horse"),
                    ("challenge", challenge.as_str()),
                    ("nonce", nonce.as_str()),
                ])
                .send()
                .await
                .expect("register")
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        register("ann", String::new(), String::new()).await,
        400,
        "no work"
    );
    let c = challenge().await;
    let unsolved = (0u64..)
        .map(|n| n.to_string())
        .find(|n| !flashsale_core::waiting_room::solves(&c, n, BITS))
        .expect("a failing nonce");
    assert_eq!(register("ann", c.clone(), unsolved).await, 400, "unsolved");
    let nonce = solve(&c, BITS);
    assert_eq!(
        register("ann", c.clone(), nonce.clone()).await,
        303,
        "solved"
    );
    assert_eq!(
        register("bob", c, nonce).await,
        400,
        "a challenge registers once"
    );
    let c = challenge().await;
    assert_eq!(register("bob", c.clone(), solve(&c, BITS)).await, 303);
}
