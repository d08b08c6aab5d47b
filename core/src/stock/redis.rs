//! The Redis stock store: one Lua script per decision, shared by every gateway node.
//!
//! # Key layout
//!
//! For product 7 under the prefix `flashsale:`:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `flashsale:{p:7}:remaining` | string (integer) | units not yet reserved; absent = not loaded |
//! | `flashsale:{p:7}:holders` | hash | shopper id -> `p:<order id>` (pending) or `c:<order id>` (claimed by the worker) |
//! | `flashsale:{p:7}:withdrawn` | set | ids of orders the gateway withdrew (answered 503); the worker drops them |
//!
//! The `{p:7}` hash tag puts both keys of a product in one Redis Cluster slot, so every script
//! touches a single slot and runs on a cluster; different products spread over the slots. The
//! prefix must not contain braces, or it would decide the slot instead of the tag.
//!
//! # Why it is atomic
//!
//! Redis runs a script to completion before it serves any other command, so each operation
//! that reads and then writes (reserve, release, load, load-if-missing) is one script over the
//! product's two keys: no other call on that product can see a half-done step, so stock never
//! goes below zero and no shopper is added twice. `remaining` is a single `GET`; the holder
//! count is a script so it reads both keys at one instant. A missing `remaining` key means
//! "not loaded", never unlimited; run Redis with `maxmemory-policy noeviction` so keys are not
//! dropped behind our back.
//!
//! # Failures
//!
//! Every call is bounded by [`OP_TIMEOUT`] (with connection and response timeouts underneath),
//! so a Buy answers promptly while Redis is unreachable; any error or timeout is
//! [`StockError::Unavailable`]. The [`ConnectionManager`] reconnects by itself, on the call
//! after the connection broke. One limit no client can remove: when a request was sent and the
//! answer timed out, Redis may still have run it. For `reserve` that errs on the safe side (a
//! unit held with no order: undersold, never oversold) until the next load from the database.
//! For claims and releases the order id settles it: see the claim protocol in `stock/mod.rs`.

use super::{Claim, Holder, Release, Reservation, StockError, StockStore};
use crate::config::redact_url;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::io::tcp::{socket2::TcpKeepalive, TcpSettings};
use ::redis::{RedisResult, Script};
use async_trait::async_trait;
use std::future::Future;
use std::time::Duration;

/// Longest time one operation may take, reconnection included: a Buy must not hang.
const OP_TIMEOUT: Duration = Duration::from_millis(1500);
/// Each TCP connect + handshake attempt.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
/// Each command's reply; local Redis answers in microseconds, so a second means trouble.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// `connect` as a whole.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Reply codes of the reserve script.
const RESERVED: i64 = 0;
const ALREADY_HELD: i64 = 1;
const SOLD_OUT: i64 = 2;
const NOT_LOADED: i64 = 3;

/// KEYS: remaining, holders. ARGV: user id, order id. Checks in the same order as the memory
/// store; the holder's value is `p:<order id>` (pending) until the worker claims it.
const RESERVE_LUA: &str = r"
local remaining = redis.call('GET', KEYS[1])
if not remaining then return 3 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 1 end
if tonumber(remaining) <= 0 then return 2 end
redis.call('DECR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], 'p:' .. ARGV[2])
return 0
";

/// KEYS: remaining, holders, withdrawn. ARGV: user id, order id. 1 = claimed already (refused);
/// 0 = withdrawn: the unit goes back if this order still held it, and the order id is kept in
/// `withdrawn` so the worker drops the message whenever it arrives. An unloaded product gets no
/// `INCR` (it would create the key with one unit).
const RELEASE_LUA: &str = r"
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held == 'c:' .. ARGV[2] then return 1 end
if held == 'p:' .. ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[1])
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCR', KEYS[1]) end
end
redis.call('SADD', KEYS[3], ARGV[2])
return 0
";

/// KEYS: holders, withdrawn. ARGV: user id, order id, user id, order id, … One reply per
/// order: 0 = withdrawn (drop it), 1 = record it (and its pending reservation is now claimed,
/// so a late release is refused).
const CLAIM_LUA: &str = r"
local out = {}
for i = 1, #ARGV, 2 do
  local user, order = ARGV[i], ARGV[i + 1]
  if redis.call('SISMEMBER', KEYS[2], order) == 1 then
    out[#out + 1] = 0
  else
    if redis.call('HGET', KEYS[1], user) == 'p:' .. order then
      redis.call('HSET', KEYS[1], user, 'c:' .. order)
    end
    out[#out + 1] = 1
  end
end
return out
";

/// KEYS: remaining, holders. ARGV: mode (`replace` or `if_missing`), remaining, then user id and
/// `c:<order id>` pairs. `if_missing` leaves a known product alone, checked in the same step as
/// the load, so two nodes healing a lost product at once cannot reset each other's
/// reservations. Holders are added 500 pairs per `HSET` because Lua's `unpack` overflows its
/// stack on a few thousand values; the whole replacement is still one script. The withdrawn
/// set is kept: withdrawn orders may still be on the queue.
const LOAD_LUA: &str = r"
if ARGV[1] == 'if_missing' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 1000 do
  redis.call('HSET', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 1
";

/// KEYS: remaining, holders. The number of holders, or -1 when the product is not loaded; one
/// script so both keys are read at the same instant.
const HOLDERS_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HLEN', KEYS[2])
";

/// Stock kept in Redis, shared by every node; see the module docs for the layout.
pub struct RedisStock {
    conn: ConnectionManager,
    prefix: String,
    reserve: Script,
    release: Script,
    claim: Script,
    load: Script,
    holders: Script,
}

impl RedisStock {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`) and namespaces every key with
    /// `prefix`. Fails with [`StockError::Unavailable`] within a few seconds when Redis cannot
    /// be reached.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisStock, StockError> {
        if prefix.contains(['{', '}']) {
            return Err(StockError::Unavailable(format!(
                "the stock key prefix {prefix:?} must not contain braces: they would replace the per-product hash tag"
            )));
        }
        let conn = connect_manager(url).await?;
        Ok(RedisStock {
            conn,
            prefix: prefix.to_string(),
            reserve: Script::new(RESERVE_LUA),
            release: Script::new(RELEASE_LUA),
            claim: Script::new(CLAIM_LUA),
            load: Script::new(LOAD_LUA),
            holders: Script::new(HOLDERS_LUA),
        })
    }

    /// `[remaining, holders, withdrawn]` keys of a product, sharing the hash tag `{p:<id>}`.
    fn keys(&self, product_id: i64) -> [String; 3] {
        let tag = format!("{}{{p:{product_id}}}", self.prefix);
        [
            format!("{tag}:remaining"),
            format!("{tag}:holders"),
            format!("{tag}:withdrawn"),
        ]
    }

    /// The load script in `mode`; returns whether it loaded.
    async fn run_load(
        &self,
        mode: &str,
        product_id: i64,
        remaining: i64,
        holders: &[Holder],
    ) -> Result<bool, StockError> {
        let [remaining_key, holders_key, _] = self.keys(product_id);
        let mut conn = self.conn.clone();
        let mut call = self.load.key(remaining_key);
        call.key(holders_key).arg(mode).arg(remaining.max(0));
        for h in holders {
            call.arg(h.user_id).arg(format!("c:{}", h.order_id));
        }
        let loaded: i64 = Self::bounded("load", product_id, call.invoke_async(&mut conn)).await?;
        Ok(loaded == 1)
    }

    /// Runs one Redis exchange within [`OP_TIMEOUT`], turning every failure into
    /// `Unavailable` that names the operation and the product.
    async fn bounded<T>(
        what: &str,
        product_id: i64,
        exchange: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StockError> {
        match tokio::time::timeout(OP_TIMEOUT, exchange).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(StockError::Unavailable(format!(
                "{what} of product {product_id} failed: {e}"
            ))),
            Err(_) => Err(StockError::Unavailable(format!(
                "{what} of product {product_id}: no answer from Redis within {OP_TIMEOUT:?}"
            ))),
        }
    }
}

/// Keepalive and `TCP_USER_TIMEOUT` make the kernel close a connection whose peer vanished
/// without a reset (a cut cable, a dead host); the manager then sees it broken and reconnects,
/// instead of every call timing out on a dead socket forever.
fn tcp_settings() -> TcpSettings {
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(5))
        .with_interval(Duration::from_secs(1));
    let settings = TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(keepalive);
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    let settings = settings.set_user_timeout(Duration::from_secs(5));
    settings
}

/// A self-reconnecting connection to `url` with the timeouts above; the waiting room's store
/// connects the same way.
pub(crate) async fn connect_manager(url: &str) -> Result<ConnectionManager, StockError> {
    let shown = redact_url(url);
    let client = ::redis::Client::open(url)
        .map_err(|e| StockError::Unavailable(format!("invalid Redis URL {shown}: {e}")))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(CONNECTION_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT)
        // One attempt per reconnection: a caller waiting on a reconnection must not sit
        // through back-off; the next call tries again.
        .set_number_of_retries(0)
        .set_tcp_settings(tcp_settings());
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        ConnectionManager::new_with_config(client, config),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(StockError::Unavailable(format!(
            "cannot connect to Redis at {shown}: {e}"
        ))),
        Err(_) => Err(StockError::Unavailable(format!(
            "cannot connect to Redis at {shown}: no answer within {CONNECT_TIMEOUT:?}"
        ))),
    }
}

#[async_trait]
impl StockStore for RedisStock {
    async fn reserve(
        &self,
        product_id: i64,
        user_id: i64,
        order_id: &str,
    ) -> Result<Reservation, StockError> {
        let [remaining, holders, _] = self.keys(product_id);
        let mut conn = self.conn.clone();
        let mut call = self.reserve.key(remaining);
        call.key(holders).arg(user_id).arg(order_id);
        let code: i64 = Self::bounded("reserve", product_id, call.invoke_async(&mut conn)).await?;
        match code {
            RESERVED => Ok(Reservation::Reserved),
            ALREADY_HELD => Ok(Reservation::AlreadyHeld),
            SOLD_OUT => Ok(Reservation::SoldOut),
            NOT_LOADED => Ok(Reservation::NotLoaded),
            other => Err(StockError::Unavailable(format!(
                "reserve of product {product_id}: unexpected script reply {other}"
            ))),
        }
    }

    async fn release(
        &self,
        product_id: i64,
        user_id: i64,
        order_id: &str,
    ) -> Result<Release, StockError> {
        let [remaining, holders, withdrawn] = self.keys(product_id);
        let mut conn = self.conn.clone();
        let mut call = self.release.key(remaining);
        call.key(holders).key(withdrawn).arg(user_id).arg(order_id);
        let code: i64 = Self::bounded("release", product_id, call.invoke_async(&mut conn)).await?;
        Ok(if code == 1 {
            Release::Claimed
        } else {
            Release::Withdrawn
        })
    }

    async fn claim(
        &self,
        product_id: i64,
        orders: &[(i64, &str)],
    ) -> Result<Vec<Claim>, StockError> {
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let [_, holders, withdrawn] = self.keys(product_id);
        let mut conn = self.conn.clone();
        let mut call = self.claim.key(holders);
        call.key(withdrawn);
        for (user_id, order_id) in orders {
            call.arg(*user_id).arg(*order_id);
        }
        let codes: Vec<i64> =
            Self::bounded("claim", product_id, call.invoke_async(&mut conn)).await?;
        if codes.len() != orders.len() {
            return Err(StockError::Unavailable(format!(
                "claim of product {product_id}: {} answers for {} orders",
                codes.len(),
                orders.len()
            )));
        }
        Ok(codes
            .into_iter()
            .map(|c| {
                if c == 0 {
                    Claim::Withdrawn
                } else {
                    Claim::Record
                }
            })
            .collect())
    }

    async fn load(
        &self,
        product_id: i64,
        remaining: i64,
        holders: &[Holder],
    ) -> Result<(), StockError> {
        self.run_load("replace", product_id, remaining, holders)
            .await
            .map(|_| ())
    }

    async fn load_if_missing(
        &self,
        product_id: i64,
        remaining: i64,
        holders: &[Holder],
    ) -> Result<bool, StockError> {
        self.run_load("if_missing", product_id, remaining, holders)
            .await
    }

    async fn holders(&self, product_id: i64) -> Result<Option<u64>, StockError> {
        let [remaining, holders, _] = self.keys(product_id);
        let mut conn = self.conn.clone();
        let mut call = self.holders.key(remaining);
        call.key(holders);
        let count: i64 =
            Self::bounded("counting holders", product_id, call.invoke_async(&mut conn)).await?;
        // -1 (not loaded) is the only value `try_from` rejects.
        Ok(u64::try_from(count).ok())
    }

    async fn remaining(&self, product_id: i64) -> Result<Option<i64>, StockError> {
        let [remaining, _, _] = self.keys(product_id);
        let mut conn = self.conn.clone();
        let mut get = ::redis::cmd("GET");
        get.arg(remaining);
        Self::bounded("reading the stock", product_id, get.query_async(&mut conn)).await
    }
}
