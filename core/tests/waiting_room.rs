//! The waiting room's line, on the memory store and on the machine's real Redis: the draw is a
//! fair shuffle given once, every node sees the same positions, late joiners follow in arrival
//! order, a challenge joins once, and rate changes are kept.

use flashsale_core::waiting_room::{
    JoinRequest, Joined, LineStart, MemoryRoom, Phase, Place, RedisRoom, WaitingRoom,
};
use flashsale_testkit::services::{delete_redis_keys, REDIS_ADDR};
use flashsale_testkit::{require, unique_name};
use std::sync::Arc;

const PRODUCT: i64 = 7;
const START: LineStart = LineStart {
    start_ms: 1_000_000,
    rate: 20,
};

/// Two views of one line: two "gateways" of a ring (two Redis connections), or the one memory
/// store twice.
struct Stores {
    kind: &'static str,
    a: Arc<dyn WaitingRoom>,
    b: Arc<dyn WaitingRoom>,
    prefix: Option<String>,
}

impl Drop for Stores {
    fn drop(&mut self) {
        if let Some(prefix) = &self.prefix {
            delete_redis_keys(prefix);
        }
    }
}

async fn both() -> Vec<Stores> {
    require("Redis", REDIS_ADDR);
    let memory: Arc<dyn WaitingRoom> = Arc::new(MemoryRoom::new());
    let prefix = format!("{}:", unique_name("fs_room"));
    let url = format!("redis://{REDIS_ADDR}");
    let connect = || async {
        Arc::new(
            RedisRoom::connect(&url, &prefix)
                .await
                .expect("connect to Redis"),
        ) as Arc<dyn WaitingRoom>
    };
    let (a, b) = (connect().await, connect().await);
    vec![
        Stores {
            kind: "memory",
            a: memory.clone(),
            b: memory,
            prefix: None,
        },
        Stores {
            kind: "redis",
            a,
            b,
            prefix: Some(prefix),
        },
    ]
}

async fn join(
    room: &dyn WaitingRoom,
    product: i64,
    user: i64,
    phase: Phase,
    challenge: &str,
    now_ms: i64,
) -> Joined {
    room.join(
        product,
        user,
        &JoinRequest {
            phase,
            start: START,
            challenge_id: challenge,
            challenge_ttl_ms: 60_000,
            now_ms,
        },
    )
    .await
    .expect("join")
}

fn place(joined: Joined) -> Place {
    match joined {
        Joined::Place(p) => p,
        Joined::ChallengeUsed => panic!("the challenge was fresh"),
    }
}

/// Spearman's rank correlation of positions 1..n against arrival order 1..n.
fn spearman(positions: &[u64]) -> f64 {
    let n = positions.len() as f64;
    let d2: f64 = positions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let d = (i as f64 + 1.0) - *p as f64;
            d * d
        })
        .sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

#[tokio::test]
async fn the_draw_is_a_fair_shuffle_seen_alike_by_every_node_and_late_joiners_follow_in_order() {
    for stores in both().await {
        let kind = stores.kind;
        for draw in 0..5 {
            let product = PRODUCT + draw;
            // 200 shoppers join the prequeue in a known order, half through each node.
            for user in 1..=200 {
                let room = if user % 2 == 0 { &stores.a } else { &stores.b };
                let p = place(
                    join(
                        room.as_ref(),
                        product,
                        user,
                        Phase::Prequeue,
                        &format!("c{user}"),
                        START.start_ms - 1000 + user,
                    )
                    .await,
                );
                assert_eq!(p.position, None, "{kind}: no position before the draw");
            }
            let before = stores.a.line(product, None).await.expect("line");
            assert_eq!((before.drawn, before.prequeue), (false, 200), "{kind}");

            // SaleStart: both nodes race to draw; one draw happens.
            let (la, lb) = tokio::join!(
                stores.a.line(product, Some(START)),
                stores.b.line(product, Some(START))
            );
            let (la, lb) = (la.expect("draw a"), lb.expect("draw b"));
            assert!(la.drawn && lb.drawn, "{kind}");
            assert_eq!((la.positions, la.prequeue), (200, 0), "{kind}");

            let mut positions = Vec::new();
            for user in 1..=200 {
                let pa = stores.a.place(product, user).await.expect("place a");
                let pb = stores.b.place(product, user).await.expect("place b");
                assert_eq!(
                    pa, pb,
                    "{kind}: both nodes give shopper {user} the same place"
                );
                positions.push(pa.and_then(|p| p.position).expect("positioned"));
            }
            let mut sorted = positions.clone();
            sorted.sort_unstable();
            assert_eq!(
                sorted,
                (1..=200).collect::<Vec<u64>>(),
                "{kind}: exactly 1..200"
            );
            let rho = spearman(&positions);
            assert!(
                rho.abs() < 0.2,
                "{kind}: draw {draw} follows arrival (rho {rho})"
            );

            // Late joiners: next positions, in arrival order, whichever node they come through.
            for (i, user) in (1001..=1005).enumerate() {
                let room = if i % 2 == 0 { &stores.a } else { &stores.b };
                let p = place(
                    join(
                        room.as_ref(),
                        product,
                        user,
                        Phase::Queueing,
                        &format!("late{user}"),
                        START.start_ms + 5000 + i as i64,
                    )
                    .await,
                );
                assert_eq!(p.position, Some(201 + i as u64), "{kind}");
            }
            // Joining again (with a new challenge) returns the same place.
            let again = place(
                join(
                    stores.b.as_ref(),
                    product,
                    1,
                    Phase::Queueing,
                    "again",
                    START.start_ms + 9000,
                )
                .await,
            );
            assert_eq!(again.position, Some(positions[0]), "{kind}");
            let drawn_again = stores.b.line(product, Some(START)).await.expect("line");
            assert_eq!(drawn_again.positions, 205, "{kind}: the draw is not redone");
        }
    }
}

#[tokio::test]
async fn a_challenge_joins_once_and_a_joiner_after_the_start_draws_first() {
    for stores in both().await {
        let kind = stores.kind;
        let early = place(join(stores.a.as_ref(), PRODUCT, 1, Phase::Prequeue, "x", 10).await);
        assert_eq!(early.position, None, "{kind}");
        assert_eq!(
            join(stores.b.as_ref(), PRODUCT, 2, Phase::Prequeue, "x", 11).await,
            Joined::ChallengeUsed,
            "{kind}: a used challenge joins no one"
        );
        assert_eq!(
            stores.a.place(PRODUCT, 2).await.expect("place"),
            None,
            "{kind}: nothing changed"
        );
        // The first join after saleStart (by its node's clock) draws, then takes the next place.
        let late = place(join(stores.b.as_ref(), PRODUCT, 2, Phase::Queueing, "y", 12).await);
        assert_eq!(late.position, Some(2), "{kind}");
        let first = stores.a.place(PRODUCT, 1).await.expect("place");
        assert_eq!(first.and_then(|p| p.position), Some(1), "{kind}");
        assert_eq!(first.map(|p| p.joined_ms), Some(10), "{kind}");
        // A node whose clock lags (still prequeue) after the draw sends newcomers to the end.
        let lagging = place(join(stores.a.as_ref(), PRODUCT, 3, Phase::Prequeue, "z", 13).await);
        assert_eq!(lagging.position, Some(3), "{kind}");
        // Registration challenges: once each, across nodes.
        assert!(
            stores.a.use_challenge("r1", 60_000, 0).await.expect("use"),
            "{kind}"
        );
        assert!(
            !stores.b.use_challenge("r1", 60_000, 1).await.expect("use"),
            "{kind}"
        );
        assert!(
            stores.b.use_challenge("r2", 60_000, 1).await.expect("use"),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn an_empty_line_banks_no_admissions() {
    for stores in both().await {
        let kind = stores.kind;
        // The line runs at 20/s from the start; one shopper comes 60 s later, then a crowd.
        let late = START.start_ms + 60_000;
        let first = place(join(stores.a.as_ref(), PRODUCT, 1, Phase::Queueing, "a", late).await);
        assert_eq!(first.position, Some(1), "{kind}");
        for user in 2..=41 {
            join(
                stores.b.as_ref(),
                PRODUCT,
                user,
                Phase::Queueing,
                &format!("c{user}"),
                late + 10,
            )
            .await;
        }
        let line = stores.a.line(PRODUCT, None).await.expect("line");
        let admitted = |t: i64| line.schedule.serving(t).min(line.positions);
        assert!(admitted(late) <= 1, "{kind}: {}", admitted(late));
        assert!(
            (19..=22).contains(&admitted(late + 1_000)),
            "{kind}: a second after the crowd came, about 20 are in, not all 41: {}",
            admitted(late + 1_000)
        );
    }
}

#[tokio::test]
async fn rate_changes_and_pauses_are_kept_for_every_node() {
    for stores in both().await {
        let kind = stores.kind;
        // Before the start: the start and rate are set.
        stores
            .a
            .set_rate(PRODUCT, START, 0)
            .await
            .expect("set before the start");
        let line = stores.b.line(PRODUCT, None).await.expect("line");
        assert_eq!(
            line.schedule.serving(START.start_ms + 5_000),
            100,
            "{kind}: 5 s at 20/s"
        );
        // A pause 2 s in holds the serving position; resuming later carries on from it.
        stores
            .a
            .set_rate(
                PRODUCT,
                LineStart { rate: 0, ..START },
                START.start_ms + 2_000,
            )
            .await
            .expect("pause");
        let paused = stores.b.line(PRODUCT, None).await.expect("line");
        assert_eq!(
            paused.schedule.serving(START.start_ms + 60_000),
            40,
            "{kind}"
        );
        stores
            .b
            .set_rate(
                PRODUCT,
                LineStart { rate: 50, ..START },
                START.start_ms + 10_000,
            )
            .await
            .expect("resume");
        let resumed = stores.a.line(PRODUCT, None).await.expect("line");
        assert_eq!(
            resumed.schedule.serving(START.start_ms + 11_000),
            90,
            "{kind}"
        );
        assert_eq!(resumed.schedule.segments().len(), 3, "{kind}");
        stores.a.add_refused(PRODUCT, 3).await.expect("refused");
        stores.b.add_refused(PRODUCT, 2).await.expect("refused");
        assert_eq!(
            stores.a.line(PRODUCT, None).await.expect("line").refused,
            5,
            "{kind}"
        );
        stores.a.remove(PRODUCT).await.expect("remove");
        assert_eq!(
            stores.b.line(PRODUCT, None).await.expect("line").in_line(),
            0,
            "{kind}"
        );
    }
}
