//! Revocations in Redis, shared by every gateway of a ring.
//!
//! | key (prefix `flashsale:`) | type | holds |
//! |---|---|---|
//! | `flashsale:{sessions}:seq` | string | the last sequence number given out |
//! | `flashsale:{sessions}:log` | sorted set | `<seq>:<revocation>` scored by its sequence number |
//! | `flashsale:{sessions}:expiry` | sorted set | the same members scored by when they may be forgotten |
//!
//! The `{sessions}` hash tag keeps the three keys in one Redis Cluster slot, so each script
//! touches one slot. Numbering and logging happen in one script, so a reader never sees
//! number N+1 before N and a gateway that pulls "everything after my cursor" misses nothing.

use super::{Changes, Revocation, SessionError, SessionStore, CHANGES_PER_CALL};
use crate::config::redact_url;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::Script;
use async_trait::async_trait;
use std::time::Duration;

/// Longest time one call may take: a logout must answer, a refresh must not pile up.
const OP_TIMEOUT: Duration = Duration::from_millis(1500);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// KEYS: seq, log, expiry. ARGV: revocation text, forget-after (unix seconds).
const REVOKE_LUA: &str = r"
local seq = redis.call('INCR', KEYS[1])
local member = seq .. ':' .. ARGV[1]
redis.call('ZADD', KEYS[2], seq, member)
redis.call('ZADD', KEYS[3], ARGV[2], member)
return seq
";

/// KEYS: seq, log. ARGV: cursor, limit. Returns the current seq, then the members after cursor.
const CHANGES_LUA: &str = r"
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local members = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
table.insert(members, 1, tostring(last))
return members
";

/// KEYS: log, expiry. ARGV: now. Forgets up to 1000 expired revocations per call.
const FORGET_LUA: &str = r"
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, m in ipairs(old) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZREM', KEYS[2], m)
end
return #old
";

pub struct RedisSessions {
    conn: ConnectionManager,
    keys: [String; 3],
    revoke: Script,
    changes: Script,
    forget: Script,
}

impl RedisSessions {
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisSessions, SessionError> {
        let shown = redact_url(url);
        let client = ::redis::Client::open(url)
            .map_err(|e| SessionError::Unavailable(format!("invalid Redis URL {shown}: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(1))
            .set_number_of_retries(0);
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| SessionError::Unavailable(format!("no answer from Redis at {shown}")))?
        .map_err(|e| {
            SessionError::Unavailable(format!("cannot connect to Redis at {shown}: {e}"))
        })?;
        Ok(RedisSessions {
            conn,
            keys: [
                format!("{prefix}{{sessions}}:seq"),
                format!("{prefix}{{sessions}}:log"),
                format!("{prefix}{{sessions}}:expiry"),
            ],
            revoke: Script::new(REVOKE_LUA),
            changes: Script::new(CHANGES_LUA),
            forget: Script::new(FORGET_LUA),
        })
    }

    async fn bounded<T>(
        what: &str,
        call: impl std::future::Future<Output = ::redis::RedisResult<T>>,
    ) -> Result<T, SessionError> {
        match tokio::time::timeout(OP_TIMEOUT, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(SessionError::Unavailable(format!("{what} failed: {e}"))),
            Err(_) => Err(SessionError::Unavailable(format!(
                "{what}: no answer from Redis within {OP_TIMEOUT:?}"
            ))),
        }
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn revoke(&self, revocation: &Revocation) -> Result<(), SessionError> {
        let [seq, log, expiry] = &self.keys;
        let mut call = self.revoke.key(seq);
        call.key(log)
            .key(expiry)
            .arg(revocation.encode())
            .arg(revocation.forget_after());
        let mut conn = self.conn.clone();
        Self::bounded::<i64>("recording a revocation", call.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn changes_since(&self, cursor: u64) -> Result<Changes, SessionError> {
        let [seq, log, _] = &self.keys;
        let mut call = self.changes.key(seq);
        call.key(log).arg(cursor).arg(CHANGES_PER_CALL);
        let mut conn = self.conn.clone();
        let reply: Vec<String> =
            Self::bounded("reading revocations", call.invoke_async(&mut conn)).await?;
        let mut reply = reply.into_iter();
        let last: u64 = reply.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if last < cursor {
            // Redis restarted without its data: start over, keeping what the caller knows.
            return Ok(Changes {
                revocations: Vec::new(),
                cursor: 0,
                reset: true,
            });
        }
        let mut changes = Changes {
            cursor,
            ..Changes::default()
        };
        for member in reply {
            let Some((n, text)) = member.split_once(':') else {
                continue;
            };
            if let Ok(n) = n.parse::<u64>() {
                changes.cursor = changes.cursor.max(n);
            }
            if let Some(r) = Revocation::decode(text) {
                changes.revocations.push(r);
            }
        }
        Ok(changes)
    }

    async fn forget_expired(&self, now: i64) -> Result<(), SessionError> {
        let [_, log, expiry] = &self.keys;
        let mut call = self.forget.key(log);
        call.key(expiry).arg(now);
        let mut conn = self.conn.clone();
        Self::bounded::<i64>("forgetting old revocations", call.invoke_async(&mut conn)).await?;
        Ok(())
    }
}
