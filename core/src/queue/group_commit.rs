//! Group commit: many callers' items written in one go (one transaction, one sync, one
//! confirm), each caller answered when its group is.
//!
//! One task forms groups and starts their writes, at most `in_flight` at once. A group is
//! everything waiting when a write slot came free, plus what arrives within `linger`, up to
//! `max_items`: under load groups grow by themselves, and a quiet shop waits at most `linger`
//! per item. Used by the embedded queue (the outbox in the database, one write at a time) and
//! by RabbitMQ (one persistent message per group, a few confirms awaited at once).

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// How a group of items is written.
#[async_trait]
pub trait GroupWriter<T>: Send + Sync + 'static {
    /// Given to every caller of the group.
    type Error: Clone + Send + 'static;

    /// Writes all of `items` or none of them.
    async fn write(&self, items: &[T]) -> Result<(), Self::Error>;
}

#[derive(Debug, Clone, Copy)]
pub struct GroupOptions {
    /// Most items in one group.
    pub max_items: usize,
    /// How long a group waits for more items once it has one.
    pub linger: Duration,
    /// Groups being written at once (1: each group waits for the previous write).
    pub in_flight: usize,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            max_items: 500,
            linger: Duration::from_millis(1),
            in_flight: 1,
        }
    }
}

/// Why an item was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError<E> {
    /// The group's write failed: nothing of the group was written.
    Write(E),
    /// The writing task is gone (the runtime is shutting down): the item was not written.
    Stopped,
}

struct Waiting<T, E> {
    item: T,
    done: oneshot::Sender<Result<(), E>>,
}

/// The submitting handle; clones share one writing task, which ends when every handle is
/// dropped (after writing what was submitted).
pub struct GroupCommit<T, E> {
    sender: mpsc::UnboundedSender<Waiting<T, E>>,
}

impl<T, E> Clone for GroupCommit<T, E> {
    fn clone(&self) -> Self {
        GroupCommit {
            sender: self.sender.clone(),
        }
    }
}

impl<T: Send + 'static, E: Clone + Send + 'static> GroupCommit<T, E> {
    /// Starts the writing task on the current tokio runtime.
    pub fn spawn<W: GroupWriter<T, Error = E>>(writer: W, options: GroupOptions) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(write_groups(writer, options, receiver));
        GroupCommit { sender }
    }

    /// Returns once `item` is written with its group, or with why it was not.
    pub async fn submit(&self, item: T) -> Result<(), GroupError<E>> {
        let (done, written) = oneshot::channel();
        self.sender
            .send(Waiting { item, done })
            .map_err(|_| GroupError::Stopped)?;
        match written.await {
            Ok(result) => result.map_err(GroupError::Write),
            Err(_) => Err(GroupError::Stopped),
        }
    }
}

async fn write_groups<
    T: Send + 'static,
    E: Clone + Send + 'static,
    W: GroupWriter<T, Error = E>,
>(
    writer: W,
    options: GroupOptions,
    mut receiver: mpsc::UnboundedReceiver<Waiting<T, E>>,
) {
    let max = options.max_items.max(1);
    let writer = Arc::new(writer);
    let slots = Arc::new(Semaphore::new(options.in_flight.max(1)));
    loop {
        // A slot first, then the group: what queues up while every slot is busy goes into
        // the next group instead of waiting behind it.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut group = vec![first];
        while group.len() < max {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        if group.len() < max && !options.linger.is_zero() {
            let until = tokio::time::Instant::now() + options.linger;
            while group.len() < max {
                match tokio::time::timeout_at(until, receiver.recv()).await {
                    Ok(Some(next)) => group.push(next),
                    Ok(None) | Err(_) => break,
                }
            }
        }
        let writer = writer.clone();
        tokio::spawn(async move {
            let (items, waiting): (Vec<T>, Vec<_>) =
                group.into_iter().map(|w| (w.item, w.done)).unzip();
            let result = writer.write(&items).await;
            drop(slot);
            for done in waiting {
                // A caller that gave up waiting (its request was dropped) needs no answer.
                let _ = done.send(result.clone());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records each group; fails any group holding a negative number.
    #[derive(Clone, Default)]
    struct Recorder {
        groups: Arc<Mutex<Vec<Vec<i32>>>>,
    }

    #[async_trait]
    impl GroupWriter<i32> for Recorder {
        type Error = String;
        async fn write(&self, items: &[i32]) -> Result<(), String> {
            // A write takes a moment, as a sync to disk does.
            tokio::time::sleep(Duration::from_millis(5)).await;
            if items.iter().any(|n| *n < 0) {
                return Err("negative".into());
            }
            self.groups.lock().expect("lock").push(items.to_vec());
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_items_share_writes_and_each_is_answered() {
        let recorder = Recorder::default();
        let group = GroupCommit::spawn(recorder.clone(), GroupOptions::default());
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let group = group.clone();
                tokio::spawn(async move { group.submit(n).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.expect("task"), Ok(()));
        }
        let groups = recorder.groups.lock().expect("lock").clone();
        let mut written: Vec<i32> = groups.iter().flatten().copied().collect();
        written.sort();
        assert_eq!(written, (0..200).collect::<Vec<_>>(), "each item once");
        assert!(
            groups.len() < 200,
            "200 concurrent items took {} writes",
            groups.len()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failed_write_fails_every_item_of_its_group_and_no_other() {
        let recorder = Recorder::default();
        let options = GroupOptions {
            max_items: 100,
            linger: Duration::from_millis(50),
            in_flight: 1,
        };
        let group = GroupCommit::spawn(recorder.clone(), options);
        let (a, b) = tokio::join!(group.submit(1), group.submit(-1));
        assert_eq!(a, Err(GroupError::Write("negative".into())));
        assert_eq!(b, Err(GroupError::Write("negative".into())));
        assert_eq!(group.submit(2).await, Ok(()));
        assert_eq!(*recorder.groups.lock().expect("lock"), vec![vec![2]]);
    }

    #[tokio::test]
    async fn groups_never_exceed_max_items() {
        let recorder = Recorder::default();
        let options = GroupOptions {
            max_items: 3,
            linger: Duration::from_millis(20),
            in_flight: 1,
        };
        let group = GroupCommit::spawn(recorder.clone(), options);
        let all = futures::future::join_all((0..10).map(|n| group.submit(n))).await;
        assert!(all.iter().all(|r| r.is_ok()));
        let groups = recorder.groups.lock().expect("lock").clone();
        assert!(groups.iter().all(|g| g.len() <= 3), "{groups:?}");
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 10);
    }

    /// Counts writes running at once, and the most seen.
    #[derive(Clone, Default)]
    struct Overlap {
        now: Arc<std::sync::atomic::AtomicUsize>,
        most: Arc<std::sync::atomic::AtomicUsize>,
    }

    #[async_trait]
    impl GroupWriter<i32> for Overlap {
        type Error = String;
        async fn write(&self, _items: &[i32]) -> Result<(), String> {
            use std::sync::atomic::Ordering::SeqCst;
            let running = self.now.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(running, SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.now.fetch_sub(1, SeqCst);
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writes_overlap_up_to_in_flight_and_no_further() {
        for in_flight in [1, 3] {
            let overlap = Overlap::default();
            let options = GroupOptions {
                max_items: 2,
                linger: Duration::ZERO,
                in_flight,
            };
            let group = GroupCommit::spawn(overlap.clone(), options);
            let all = futures::future::join_all((0..40).map(|n| group.submit(n))).await;
            assert!(all.iter().all(|r| r.is_ok()));
            let most = overlap.most.load(std::sync::atomic::Ordering::SeqCst);
            assert_eq!(most, in_flight, "20 groups, {in_flight} slots");
        }
    }
}
