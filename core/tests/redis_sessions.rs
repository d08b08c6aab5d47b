//! The Redis session store against the machine's real Redis: revocations come back in order
//! from any cursor, expired ones are forgotten, and a Redis that lost its data says so.

use flashsale_core::sessions::{RedisSessions, Revocation, SessionStore};
use flashsale_testkit::services::REDIS_ADDR;
use flashsale_testkit::{delete_redis_keys, require, unique_name};

#[tokio::test]
async fn revocations_are_read_back_in_order_and_forgotten_once_expired() {
    require("Redis", REDIS_ADDR);
    let prefix = format!("{}:", unique_name("fs_sessions"));
    let url = format!("redis://{REDIS_ADDR}");
    let store = RedisSessions::connect(&url, &prefix)
        .await
        .expect("connect");
    let other = RedisSessions::connect(&url, &prefix)
        .await
        .expect("connect");

    let first = Revocation::Token {
        id: "00".repeat(16),
        expires: 100,
    };
    let second = Revocation::User {
        user_id: 7,
        expires_upto: 5_000,
    };
    store.revoke(&first).await.expect("revoke");
    store.revoke(&second).await.expect("revoke");

    // Another gateway sees both, in order, and then nothing new.
    let all = other.changes_since(0).await.expect("changes");
    assert_eq!(all.revocations, vec![first.clone(), second.clone()]);
    let none = other.changes_since(all.cursor).await.expect("changes");
    assert!(none.revocations.is_empty() && !none.reset);

    // The token's revocation expired at 100: forgotten; the shopper's stays.
    store.forget_expired(1_000).await.expect("forget");
    let kept = other.changes_since(0).await.expect("changes");
    assert_eq!(kept.revocations, vec![second]);

    // Redis lost its data: a cursor from before is answered with a reset.
    delete_redis_keys(&prefix);
    let lost = other.changes_since(all.cursor).await.expect("changes");
    assert!(lost.reset);
}
