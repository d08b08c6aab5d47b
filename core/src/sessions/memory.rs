//! Revocations kept in this process (embedded defaults: one gateway, one process).

use super::{Changes, Revocation, SessionError, SessionStore, CHANGES_PER_CALL};
use async_trait::async_trait;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemorySessions {
    /// (sequence number, revocation), in the order recorded.
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    last: u64,
    entries: Vec<(u64, Revocation)>,
}

impl MemorySessions {
    pub fn new() -> Self {
        Self::default()
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        // The log is appended and filtered in single steps: still consistent after a panic.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn revoke(&self, revocation: &Revocation) -> Result<(), SessionError> {
        let mut log = self.log();
        log.last += 1;
        let seq = log.last;
        log.entries.push((seq, revocation.clone()));
        Ok(())
    }

    async fn changes_since(&self, cursor: u64) -> Result<Changes, SessionError> {
        let log = self.log();
        let start = log.entries.partition_point(|(seq, _)| *seq <= cursor);
        let batch = &log.entries[start..log.entries.len().min(start + CHANGES_PER_CALL)];
        Ok(Changes {
            cursor: batch.last().map_or(cursor.min(log.last), |(seq, _)| *seq),
            revocations: batch.iter().map(|(_, r)| r.clone()).collect(),
            reset: false,
        })
    }

    async fn forget_expired(&self, now: i64) -> Result<(), SessionError> {
        self.log().entries.retain(|(_, r)| r.forget_after() > now);
        Ok(())
    }
}
