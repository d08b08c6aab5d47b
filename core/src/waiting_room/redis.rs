//! The waiting room in Redis, shared by every gateway: one Lua script per decision.
//!
//! # Key layout
//!
//! For product 7 under the prefix `flashsale:` (the stock's hash tag, so a product's line and
//! stock live in one Redis Cluster slot):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `flashsale:{p:7}:room:places` | hash | shopper id -> `position:joined_ms` (`0:…` in the prequeue) |
//! | `flashsale:{p:7}:room:prequeue` | sorted set | prequeue shoppers scored by their random ticket |
//! | `flashsale:{p:7}:room:meta` | hash | `drawn` (1 once drawn), `positions` (given so far), `refused` |
//! | `flashsale:{p:7}:room:rates` | list | rate segments `t0_ms,served,rate`, oldest first |
//! | `flashsale:{p:7}:room:used:<id>` | string, expiring | a challenge already used to join |
//! | `flashsale:{reg}:used:<id>` | string, expiring | a challenge already used to register |
//!
//! # The draw
//!
//! Done by the first script (a join, or a gateway's refresh of the line) that runs after
//! `saleStart` by its caller's clock: it sets `drawn` and adds the prequeue's size to
//! `positions`; a prequeue shopper's position is then their rank by ticket (+1), which never
//! changes because nothing joins the prequeue once drawn. Redis runs a script whole, so exactly
//! one draw happens and no join can slip between the draw and the next position. The tickets
//! come from the gateways' OS CSPRNG, never from Lua's `math.random` (seeded the same on every
//! call).

use super::{
    draw_ticket, JoinRequest, Joined, Line, LineStart, Phase, Place, RoomError, Schedule, Segment,
    WaitingRoom,
};
use ::redis::aio::ConnectionManager;
use ::redis::{RedisResult, Script};
use async_trait::async_trait;
use std::future::Future;
use std::time::Duration;

/// Longest time one operation may take: a status or join must answer promptly when Redis is
/// unreachable.
const OP_TIMEOUT: Duration = Duration::from_millis(1500);
/// Segments kept: far more than any sale's rate changes; old ones only date admissions past.
const MAX_SEGMENTS: usize = 256;

/// KEYS of every script: places, prequeue, meta, rates (and, for a join, the challenge's
/// used-key). The shared functions: the draw, and reading a place.
const COMMON_LUA: &str = r"
local function draw(start, rate)
  if redis.call('HGET', KEYS[3], 'drawn') == '1' then return end
  redis.call('HSET', KEYS[3], 'drawn', '1')
  redis.call('HINCRBY', KEYS[3], 'positions', redis.call('ZCARD', KEYS[2]))
  if redis.call('LLEN', KEYS[4]) == 0 then
    redis.call('RPUSH', KEYS[4], start .. ',0,' .. rate)
  end
end
local function place(user, v)
  local sep = string.find(v, ':', 1, true)
  local n = tonumber(string.sub(v, 1, sep - 1))
  if n == 0 and redis.call('HGET', KEYS[3], 'drawn') == '1' then
    n = redis.call('ZRANK', KEYS[2], user) + 1
  end
  return {n, string.sub(v, sep + 1)}
end
";

/// ARGV: user, phase (`pre` or `queue`), ticket, start_ms, rate, challenge ttl ms, now ms.
/// Reply: {-2, ''} challenge used; else {position (0: prequeue), joined_ms}.
const JOIN_LUA: &str = r"
if not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[6]) then return {-2, ''} end
if ARGV[2] == 'queue' then draw(ARGV[4], ARGV[5]) end
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then return place(ARGV[1], v) end
if redis.call('HGET', KEYS[3], 'drawn') == '1' then
  if redis.call('LLEN', KEYS[4]) == 0 then
    redis.call('RPUSH', KEYS[4], ARGV[4] .. ',0,' .. ARGV[5])
  end
  -- An empty line banks no admissions: if the serving position ran past everyone, it
  -- restarts from the end of the line now, so a crowd arriving after a lull is still let in
  -- at the rate.
  local given = tonumber(redis.call('HGET', KEYS[3], 'positions') or '0')
  local last = redis.call('LINDEX', KEYS[4], -1)
  local t0, s0, r = string.match(last, '^(%-?%d+),(%d+),(%d+)$')
  local now = tonumber(ARGV[7])
  if t0 and now > tonumber(t0) then
    local serving = tonumber(s0) + math.floor(tonumber(r) * (now - tonumber(t0)) / 1000)
    if serving > given then
      redis.call('RPUSH', KEYS[4], ARGV[7] .. ',' .. given .. ',' .. r)
      redis.call('LTRIM', KEYS[4], -256, -1)
    end
  end
  local n = redis.call('HINCRBY', KEYS[3], 'positions', 1)
  redis.call('HSET', KEYS[1], ARGV[1], n .. ':' .. ARGV[7])
  return {n, ARGV[7]}
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], '0:' .. ARGV[7])
return {0, ARGV[7]}
";

/// ARGV: user. Reply: {-1, ''} not in line; else {position (0: prequeue), joined_ms}.
const PLACE_LUA: &str = r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {-1, ''} end
return place(ARGV[1], v)
";

/// ARGV: draw (`1` or `0`), start_ms, rate. Reply: {drawn, prequeue, positions, refused,
/// segments}.
const LINE_LUA: &str = r"
if ARGV[1] == '1' then draw(ARGV[2], ARGV[3]) end
local m = redis.call('HMGET', KEYS[3], 'drawn', 'positions', 'refused')
local drawn = 0
local pre = 0
if m[1] == '1' then drawn = 1 else pre = redis.call('ZCARD', KEYS[2]) end
return {drawn, pre, tonumber(m[2] or '0'), tonumber(m[3] or '0'), redis.call('LRANGE', KEYS[4], 0, -1)}
";

/// Compare-and-set of the rate segments, so the arithmetic stays in Rust ([`Schedule`]) and
/// two admins saving at once cannot lose a change. ARGV: the list as read (joined by `;`),
/// then the new segments. Reply: 1 set, 0 changed meanwhile (read again).
const SET_RATES_LUA: &str = r"
local now = table.concat(redis.call('LRANGE', KEYS[4], 0, -1), ';')
if now ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[4])
for i = 2, #ARGV do redis.call('RPUSH', KEYS[4], ARGV[i]) end
return 1
";

pub struct RedisRoom {
    conn: ConnectionManager,
    prefix: String,
    join: Script,
    place: Script,
    line: Script,
    set_rates: Script,
}

impl RedisRoom {
    /// Connects to `url`, keys under `prefix` (the stock store's: the line lives with the
    /// stock).
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisRoom, RoomError> {
        if prefix.contains(['{', '}']) {
            return Err(RoomError::Unavailable(format!(
                "the key prefix {prefix:?} must not contain braces: they would replace the per-product hash tag"
            )));
        }
        let conn = crate::stock::connect_manager(url)
            .await
            .map_err(|e| RoomError::Unavailable(e.to_string()))?;
        let with_common = |body: &str| Script::new(&format!("{COMMON_LUA}{body}"));
        Ok(RedisRoom {
            conn,
            prefix: prefix.to_string(),
            join: with_common(JOIN_LUA),
            place: with_common(PLACE_LUA),
            line: with_common(LINE_LUA),
            set_rates: with_common(SET_RATES_LUA),
        })
    }

    fn tag(&self, product_id: i64) -> String {
        format!("{}{{p:{product_id}}}:room", self.prefix)
    }

    /// `[places, prequeue, meta, rates]`, sharing the product's hash tag.
    fn keys(&self, product_id: i64) -> [String; 4] {
        let tag = self.tag(product_id);
        [
            format!("{tag}:places"),
            format!("{tag}:prequeue"),
            format!("{tag}:meta"),
            format!("{tag}:rates"),
        ]
    }

    fn invocation<'s>(&self, script: &'s Script, product_id: i64) -> ::redis::ScriptInvocation<'s> {
        let [places, prequeue, meta, rates] = self.keys(product_id);
        let mut call = script.key(places);
        call.key(prequeue).key(meta).key(rates);
        call
    }

    async fn bounded<T>(
        what: &str,
        product_id: i64,
        exchange: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, RoomError> {
        match tokio::time::timeout(OP_TIMEOUT, exchange).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(RoomError::Unavailable(format!(
                "{what} of product {product_id}'s line failed: {e}"
            ))),
            Err(_) => Err(RoomError::Unavailable(format!(
                "{what} of product {product_id}'s line: no answer from Redis within {OP_TIMEOUT:?}"
            ))),
        }
    }
}

/// `{position, joined_ms}` -> a place (`position` 0: in the prequeue).
fn to_place(position: i64, joined: &str) -> Place {
    Place {
        position: u64::try_from(position).ok().filter(|n| *n > 0),
        joined_ms: joined.parse().unwrap_or(0),
    }
}

#[async_trait]
impl WaitingRoom for RedisRoom {
    async fn join(
        &self,
        product_id: i64,
        user_id: i64,
        request: &JoinRequest<'_>,
    ) -> Result<Joined, RoomError> {
        let mut call = self.invocation(&self.join, product_id);
        call.key(format!(
            "{}:used:{}",
            self.tag(product_id),
            request.challenge_id
        ))
        .arg(user_id)
        .arg(match request.phase {
            Phase::Prequeue => "pre",
            Phase::Queueing => "queue",
        })
        .arg(draw_ticket())
        .arg(request.start.start_ms)
        .arg(request.start.rate)
        .arg(request.challenge_ttl_ms.max(1))
        .arg(request.now_ms);
        let mut conn = self.conn.clone();
        let (position, joined): (i64, String) =
            Self::bounded("joining", product_id, call.invoke_async(&mut conn)).await?;
        if position == -2 {
            return Ok(Joined::ChallengeUsed);
        }
        Ok(Joined::Place(to_place(position, &joined)))
    }

    async fn place(&self, product_id: i64, user_id: i64) -> Result<Option<Place>, RoomError> {
        let mut call = self.invocation(&self.place, product_id);
        call.arg(user_id);
        let mut conn = self.conn.clone();
        let (position, joined): (i64, String) =
            Self::bounded("reading a place", product_id, call.invoke_async(&mut conn)).await?;
        Ok((position >= 0).then(|| to_place(position, &joined)))
    }

    async fn line(&self, product_id: i64, draw_from: Option<LineStart>) -> Result<Line, RoomError> {
        let mut call = self.invocation(&self.line, product_id);
        let start = draw_from.unwrap_or(LineStart {
            start_ms: 0,
            rate: 0,
        });
        call.arg(if draw_from.is_some() { "1" } else { "0" })
            .arg(start.start_ms)
            .arg(start.rate);
        let mut conn = self.conn.clone();
        let (drawn, prequeue, positions, refused, segments): (i64, u64, u64, u64, Vec<String>) =
            Self::bounded("reading", product_id, call.invoke_async(&mut conn)).await?;
        Ok(Line {
            drawn: drawn == 1,
            prequeue,
            positions,
            refused,
            schedule: Schedule::new(segments.iter().filter_map(|s| Segment::decode(s)).collect()),
        })
    }

    async fn set_rate(
        &self,
        product_id: i64,
        start: LineStart,
        now_ms: i64,
    ) -> Result<(), RoomError> {
        let [_, _, _, rates] = self.keys(product_id);
        // A few rounds at most: only two admins saving the same product at once collide.
        for _ in 0..5 {
            let mut conn = self.conn.clone();
            let mut read = ::redis::cmd("LRANGE");
            read.arg(&rates).arg(0).arg(-1);
            let stored: Vec<String> =
                Self::bounded("reading the rates", product_id, read.query_async(&mut conn)).await?;
            let schedule =
                Schedule::new(stored.iter().filter_map(|s| Segment::decode(s)).collect());
            let Some(mut segments) = schedule.with_rate(start.start_ms, start.rate, now_ms) else {
                return Ok(());
            };
            if segments.len() > MAX_SEGMENTS {
                segments.drain(..segments.len() - MAX_SEGMENTS);
            }
            let mut call = self.invocation(&self.set_rates, product_id);
            call.arg(stored.join(";"));
            for s in &segments {
                call.arg(s.encode());
            }
            let set: i64 =
                Self::bounded("setting the rate", product_id, call.invoke_async(&mut conn)).await?;
            if set == 1 {
                return Ok(());
            }
        }
        Err(RoomError::Unavailable(format!(
            "the rate of product {product_id}'s line kept changing under us"
        )))
    }

    async fn add_refused(&self, product_id: i64, count: u64) -> Result<(), RoomError> {
        let [_, _, meta, _] = self.keys(product_id);
        let mut cmd = ::redis::cmd("HINCRBY");
        cmd.arg(meta).arg("refused").arg(count);
        let mut conn = self.conn.clone();
        let _: i64 =
            Self::bounded("counting refusals", product_id, cmd.query_async(&mut conn)).await?;
        Ok(())
    }

    async fn use_challenge(&self, id: &str, ttl_ms: u64, _now_ms: i64) -> Result<bool, RoomError> {
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(format!("{}{{reg}}:used:{id}", self.prefix))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1));
        let mut conn = self.conn.clone();
        let set: Option<String> =
            Self::bounded("recording a challenge", 0, cmd.query_async(&mut conn)).await?;
        Ok(set.is_some())
    }

    async fn remove(&self, product_id: i64) -> Result<(), RoomError> {
        let mut cmd = ::redis::cmd("DEL");
        for key in self.keys(product_id) {
            cmd.arg(key);
        }
        let mut conn = self.conn.clone();
        let _: i64 = Self::bounded("removing", product_id, cmd.query_async(&mut conn)).await?;
        Ok(())
    }
}
