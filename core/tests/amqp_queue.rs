//! The RabbitMQ order queue against the machine's real broker (127.0.0.1:5672, guest/guest):
//! what the gateway and the worker rely on, including when the connection breaks.
//! Each test has its own queue and deletes it at the end, even when it fails.

use flashsale_core::domain::{new_order_id, OrderMessage};
use flashsale_core::queue::group_commit::GroupOptions;
use flashsale_core::queue::{
    dead_letter_queue, delete_queues, queue_depth, queue_orders, AmqpConsumer, AmqpQueue,
    OrderConsumer, OrderQueue, QueueDepth, DEFAULT_GROUPING,
};
use flashsale_testkit::TcpProxy;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BROKER: &str = "127.0.0.1:5672";
const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A fresh queue name, its queues deleted when the test ends (pass or fail).
struct TestQueue {
    name: String,
}

impl TestQueue {
    fn new() -> TestQueue {
        flashsale_testkit::require("RabbitMQ", BROKER);
        TestQueue {
            name: flashsale_testkit::unique_name("fs_q"),
        }
    }

    async fn publisher(&self) -> AmqpQueue {
        AmqpQueue::connect(URL, &self.name)
            .await
            .expect("connect publisher")
    }

    async fn consumer(&self, prefetch: u16) -> AmqpConsumer {
        AmqpConsumer::connect(URL, &self.name, prefetch)
            .await
            .expect("connect consumer")
    }

    async fn depth(&self) -> QueueDepth {
        queue_depth(URL, &self.name).await.expect("queue depth")
    }
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        // Drop cannot await, and may run inside the test's runtime: a thread with its own.
        let name = self.name.clone();
        let cleaned = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(delete_queues(URL, &name))
        })
        .join();
        if !std::thread::panicking() {
            cleaned
                .expect("cleanup thread")
                .expect("delete the test queues");
        }
    }
}

fn order(n: i64) -> OrderMessage {
    OrderMessage {
        order_id: new_order_id(),
        user_id: n,
        product_id: 7,
        accepted_at: n,
    }
}

fn ids<'a>(orders: impl IntoIterator<Item = &'a OrderMessage>) -> HashSet<String> {
    orders.into_iter().map(|o| o.order_id.clone()).collect()
}

/// Consumes and acks until every order in `want` arrived or `within` passed; every delivery
/// (of any order) is counted, so duplicates and extras show. Broken-link errors are waited
/// out, as the worker does.
async fn drain<'a>(
    consumer: &mut AmqpConsumer,
    want: impl IntoIterator<Item = &'a OrderMessage>,
    within: Duration,
) -> HashMap<String, usize> {
    let want = ids(want);
    let deadline = Instant::now() + within;
    let mut seen: HashMap<String, usize> = HashMap::new();
    while !want.iter().all(|id| seen.contains_key(id)) && Instant::now() < deadline {
        match consumer.next_batch(100, Duration::from_millis(500)).await {
            Ok(batch) => {
                // Over the max only as one message (a group of orders published together).
                assert!(
                    batch.orders.len() <= DEFAULT_GROUPING.max_items.max(100),
                    "batch over max"
                );
                for o in &batch.orders {
                    *seen.entry(o.order_id.clone()).or_default() += 1;
                }
                if let Err(e) = consumer.ack(batch).await {
                    // The batch comes back; the counts show it.
                    eprintln!("ack failed: {e}");
                }
            }
            Err(e) => {
                eprintln!("next_batch failed: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    seen
}

/// Takes batches without settling them until `want` orders are held.
async fn hold(consumer: &mut AmqpConsumer, want: usize) -> Vec<OrderMessage> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut held = Vec::new();
    while held.len() < want && Instant::now() < deadline {
        let batch = consumer
            .next_batch(100, Duration::from_millis(500))
            .await
            .expect("batch");
        held.extend(batch.orders);
        // The batch is deliberately left unsettled.
    }
    held
}

async fn eventually<F: AsyncFnMut() -> bool>(within: Duration, mut check: F) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check().await
}

// ---------------------------------------------------------------------------------------------
// Round trip

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_publishes_arrive_exactly_once() {
    let q = TestQueue::new();
    let publisher = Arc::new(q.publisher().await);
    let mut consumer = q.consumer(200).await;

    let orders: Vec<OrderMessage> = (0..1_000).map(order).collect();
    let tasks: Vec<_> = orders
        .iter()
        .cloned()
        .map(|o| {
            let publisher = publisher.clone();
            tokio::spawn(async move { publisher.publish(&o).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("publish confirmed");
    }

    let seen = drain(&mut consumer, &orders, Duration::from_secs(30)).await;
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        ids(&orders),
        "the same orders came out"
    );
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");

    let extra = consumer
        .next_batch(100, Duration::from_millis(300))
        .await
        .expect("batch");
    assert!(extra.orders.is_empty(), "nothing more: {extra:?}");

    // With the consumer gone, anything unacked would be ready again: nothing is.
    drop(consumer);
    let gone = eventually(Duration::from_secs(5), async || {
        q.depth().await.consumers == 0
    });
    assert!(gone.await, "the consumer went away");
    assert_eq!(q.depth().await.ready, 0, "the queue is empty");
}

#[tokio::test]
async fn messages_are_persistent_json_lists_of_orders() {
    let q = TestQueue::new();
    let publisher = q.publisher().await;
    let sent = order(1);
    publisher.publish(&sent).await.expect("publish");

    // Read it raw, as any other consumer of the queue would.
    let conn = lapin::Connection::connect(URL, lapin::ConnectionProperties::default())
        .await
        .expect("connect");
    let channel = conn.create_channel().await.expect("channel");
    let got = channel
        .basic_get(
            q.name.as_str().into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic.get")
        .expect("a message");
    let props = &got.delivery.properties;
    assert_eq!(props.delivery_mode(), &Some(2), "persistent");
    assert_eq!(
        props.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    let body: serde_json::Value = serde_json::from_slice(&got.delivery.data).expect("json");
    assert_eq!(body.as_array().map(Vec::len), Some(1), "one order: {body}");
    assert_eq!(
        body[0]["orderId"],
        sent.order_id.as_str(),
        "camelCase: {body}"
    );
    assert_eq!(body[0]["userId"], 1);
    let _ = conn.close(200, "OK".into()).await;
}

#[tokio::test]
async fn a_deleted_queue_is_an_error_then_declared_again() {
    let q = TestQueue::new();
    let publisher = q.publisher().await;
    publisher.publish(&order(1)).await.expect("publish");
    delete_queues(URL, &q.name).await.expect("delete");

    // Confirmed but unroutable is not "queued".
    assert!(publisher.publish(&order(2)).await.is_err());
    let third = order(3);
    let deadline = Instant::now() + Duration::from_secs(5);
    while publisher.publish(&third).await.is_err() {
        assert!(Instant::now() < deadline, "the publisher never redeclared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut consumer = q.consumer(10).await;
    let seen = drain(&mut consumer, [&third], Duration::from_secs(5)).await;
    assert!(seen.contains_key(&third.order_id));
}

// ---------------------------------------------------------------------------------------------
// Groups

/// A publisher that waits long enough for company that concurrent publishes share a message.
async fn grouping_publisher(q: &TestQueue) -> AmqpQueue {
    q.publisher().await.with_grouping(GroupOptions {
        max_items: 100,
        linger: Duration::from_millis(200),
        in_flight: 1,
    })
}

/// Publishes `orders` at once, each confirmed.
async fn publish_together(publisher: &AmqpQueue, orders: &[OrderMessage]) {
    let all = futures::future::join_all(orders.iter().map(|o| publisher.publish(o))).await;
    assert!(all.iter().all(Result::is_ok), "{all:?}");
}

#[tokio::test]
async fn orders_published_together_travel_as_one_message_and_the_audit_counts_orders() {
    let q = TestQueue::new();
    let publisher = grouping_publisher(&q).await;
    let orders: Vec<OrderMessage> = (0..30).map(order).collect();
    publish_together(&publisher, &orders).await;
    assert_eq!(q.depth().await.ready, 1, "one message");
    let counted = queue_orders(URL, &q.name).await.expect("count");
    assert_eq!(counted, (30, 0), "orders waiting, orders dead");
    // Counting left them on the queue.
    let mut consumer = q.consumer(10).await;
    let seen = drain(&mut consumer, &orders, Duration::from_secs(10)).await;
    assert_eq!(seen.keys().cloned().collect::<HashSet<_>>(), ids(&orders));
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
}

#[tokio::test]
async fn a_message_is_acked_only_once_every_order_in_it_is_settled() {
    let q = TestQueue::new();
    let publisher = grouping_publisher(&q).await;
    let orders: Vec<OrderMessage> = (0..3).map(order).collect();
    publish_together(&publisher, &orders).await;

    let mut first = q.consumer(10).await;
    let batch = first
        .next_batch(100, Duration::from_secs(5))
        .await
        .expect("batch");
    assert_eq!(ids(&batch.orders), ids(&orders));
    let mut singles = first.split(batch);
    let last = singles.pop().expect("three singles");
    for single in singles {
        first.ack(single).await.expect("ack");
    }
    // Two of three settled: the message is still the consumer's; it dies before the third.
    drop(last);
    drop(first);
    let mut second = q.consumer(10).await;
    let again = drain(&mut second, &orders, Duration::from_secs(10)).await;
    assert_eq!(
        again.keys().cloned().collect::<HashSet<_>>(),
        ids(&orders),
        "the whole message came again"
    );
    let more = second
        .next_batch(10, Duration::from_millis(300))
        .await
        .expect("batch");
    assert!(more.orders.is_empty(), "acked in full: {more:?}");
}

#[tokio::test]
async fn one_order_given_back_gives_its_whole_message_back_and_a_dead_letter_is_one_order() {
    let q = TestQueue::new();
    let publisher = grouping_publisher(&q).await;
    let orders: Vec<OrderMessage> = (0..3).map(order).collect();
    publish_together(&publisher, &orders).await;
    let mut consumer = q.consumer(10).await;

    // First round: one order given back, the others acked -> all three come again.
    let batch = consumer
        .next_batch(100, Duration::from_secs(5))
        .await
        .expect("batch");
    let mut singles = consumer.split(batch).into_iter();
    consumer
        .retry(singles.next().expect("first"))
        .await
        .expect("retry");
    for single in singles {
        consumer.ack(single).await.expect("ack");
    }
    let batch = consumer
        .next_batch(100, Duration::from_secs(5))
        .await
        .expect("redelivered");
    assert_eq!(
        ids(&batch.orders),
        ids(&orders),
        "the whole message came back"
    );

    // Second round: one order dead-lettered, the others acked -> settled in full.
    let mut singles = consumer.split(batch).into_iter();
    let poison = singles.next().expect("first");
    let poison_id = poison.orders[0].order_id.clone();
    consumer
        .dead_letter(poison, "test")
        .await
        .expect("dead letter");
    for single in singles {
        consumer.ack(single).await.expect("ack");
    }
    let more = consumer
        .next_batch(10, Duration::from_millis(300))
        .await
        .expect("batch");
    assert!(more.orders.is_empty(), "settled in full: {more:?}");
    assert!(
        eventually(Duration::from_secs(5), async || {
            queue_orders(URL, &q.name).await.expect("count") == (0, 1)
        })
        .await,
        "one order dead"
    );
    let conn = lapin::Connection::connect(URL, lapin::ConnectionProperties::default())
        .await
        .expect("connect");
    let channel = conn.create_channel().await.expect("channel");
    let dead = channel
        .basic_get(
            dead_letter_queue(&q.name).as_str().into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic.get")
        .expect("the dead letter");
    let body: serde_json::Value = serde_json::from_slice(&dead.delivery.data).expect("json");
    assert_eq!(body[0]["orderId"], poison_id.as_str(), "{body}");
    let _ = conn.close(200, "OK".into()).await;
}

#[tokio::test]
async fn a_batch_takes_whole_messages_up_to_its_max() {
    let q = TestQueue::new();
    let publisher = grouping_publisher(&q).await;
    let groups: Vec<Vec<OrderMessage>> = (0..3)
        .map(|g| (0..4).map(|n| order(g * 10 + n)).collect())
        .collect();
    for group in &groups {
        publish_together(&publisher, group).await;
    }
    assert_eq!(q.depth().await.ready, 3, "three messages");
    let mut consumer = q.consumer(10).await;
    // Wait until all three are at the consumer, so the batch could take them all.
    let mut taken = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while taken.len() < 3 && Instant::now() < deadline {
        let batch = consumer
            .next_batch(10, Duration::from_millis(500))
            .await
            .expect("batch");
        if batch.orders.is_empty() {
            continue;
        }
        assert_eq!(
            batch.orders.len() % 4,
            0,
            "whole messages: {}",
            batch.orders.len()
        );
        assert!(
            batch.orders.len() <= 10,
            "at most the max: {}",
            batch.orders.len()
        );
        taken.push(batch.orders.len());
        consumer.ack(batch).await.expect("ack");
        if taken.iter().sum::<usize>() == 12 {
            break;
        }
    }
    assert_eq!(taken.iter().sum::<usize>(), 12, "{taken:?}");
}

// ---------------------------------------------------------------------------------------------
// Redelivery

#[tokio::test]
async fn a_batch_never_acked_is_delivered_again_to_the_next_consumer() {
    let q = TestQueue::new();
    let publisher = q.publisher().await;
    let orders: Vec<OrderMessage> = (0..10).map(order).collect();
    for o in &orders {
        publisher.publish(o).await.expect("publish");
    }

    let mut first = q.consumer(50).await;
    let held = hold(&mut first, orders.len()).await;
    assert_eq!(ids(&held), ids(&orders), "the first consumer got them all");
    drop(first); // crashed before committing

    let mut second = q.consumer(50).await;
    let again = drain(&mut second, &orders, Duration::from_secs(10)).await;
    assert_eq!(
        again.keys().cloned().collect::<HashSet<_>>(),
        ids(&orders),
        "the second consumer got the same orders"
    );
}

#[tokio::test]
async fn a_batch_given_back_comes_again() {
    let q = TestQueue::new();
    let publisher = q.publisher().await;
    let orders: Vec<OrderMessage> = (0..5).map(order).collect();
    for o in &orders {
        publisher.publish(o).await.expect("publish");
    }
    let mut consumer = q.consumer(50).await;
    let batch = consumer
        .next_batch(100, Duration::from_secs(5))
        .await
        .expect("batch");
    assert!(!batch.orders.is_empty());
    let given_back = ids(&batch.orders);
    consumer.retry(batch).await.expect("retry");

    let again = drain(&mut consumer, &orders, Duration::from_secs(10)).await;
    for id in &given_back {
        assert_eq!(again.get(id), Some(&1), "{id} came back once after retry");
    }
    assert_eq!(again.keys().cloned().collect::<HashSet<_>>(), ids(&orders));
}

#[tokio::test]
async fn an_empty_wait_returns_an_empty_batch_on_time() {
    let q = TestQueue::new();
    let mut consumer = q.consumer(10).await;
    let started = Instant::now();
    let batch = consumer
        .next_batch(10, Duration::from_millis(300))
        .await
        .expect("batch");
    assert!(batch.orders.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited too long"
    );
    consumer.ack(batch).await.expect("acking nothing is fine");
}

// ---------------------------------------------------------------------------------------------
// Poison messages

#[tokio::test]
async fn a_malformed_message_is_dead_lettered_and_the_good_ones_flow() {
    let q = TestQueue::new();
    let publisher = q.publisher().await; // declares the topology
    let good: Vec<OrderMessage> = (0..3).map(order).collect();
    publisher.publish(&good[0]).await.expect("publish");

    let conn = lapin::Connection::connect(URL, lapin::ConnectionProperties::default())
        .await
        .expect("connect");
    let channel = conn.create_channel().await.expect("channel");
    for raw in [&b"not json at all"[..], br#"{"orderId": 5}"#] {
        channel
            .basic_publish(
                "".into(),
                q.name.as_str().into(),
                lapin::options::BasicPublishOptions::default(),
                raw,
                lapin::BasicProperties::default(),
            )
            .await
            .expect("raw publish")
            .await
            .expect("raw publish sent");
    }
    let _ = conn.close(200, "OK".into()).await;
    for o in &good[1..] {
        publisher.publish(o).await.expect("publish");
    }

    let mut consumer = q.consumer(10).await;
    let seen = drain(&mut consumer, &good, Duration::from_secs(10)).await;
    assert_eq!(seen.keys().cloned().collect::<HashSet<_>>(), ids(&good));
    assert!(
        eventually(Duration::from_secs(5), async || q.depth().await.dead == 2).await,
        "both malformed messages are in {}: {:?}",
        dead_letter_queue(&q.name),
        q.depth().await
    );
    let more = consumer
        .next_batch(10, Duration::from_millis(300))
        .await
        .expect("batch");
    assert!(more.orders.is_empty(), "nothing else is delivered");
}

// ---------------------------------------------------------------------------------------------
// Faults

fn via(proxy: &TcpProxy) -> String {
    format!("amqp://guest:guest@{}/%2f", proxy.host_port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_publisher_fails_fast_then_recovers_by_itself() {
    let q = TestQueue::new();
    let proxy = TcpProxy::start(BROKER).await;
    let publisher = AmqpQueue::connect(&via(&proxy), &q.name)
        .await
        .expect("connect through the proxy");
    let mut confirmed = Vec::new();
    for n in 0..5 {
        let o = order(n);
        publisher.publish(&o).await.expect("publish before the cut");
        confirmed.push(o);
    }

    proxy.cut();
    for n in 100..105 {
        let started = Instant::now();
        let result = publisher.publish(&order(n)).await;
        let took = started.elapsed();
        eprintln!("publish while cut: {took:?} {result:?}");
        assert!(result.is_err(), "publish while cut must fail");
        assert!(took < Duration::from_secs(3), "failing took {took:?}");
    }

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut recovered = false;
    let mut n = 200;
    while Instant::now() < deadline {
        let o = order(n);
        n += 1;
        if publisher.publish(&o).await.is_ok() {
            confirmed.push(o);
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the same publisher publishes again after restore"
    );
    for n in 300..310 {
        let o = order(n);
        publisher.publish(&o).await.expect("publish after recovery");
        confirmed.push(o);
    }

    // Everything confirmed is on the queue (read directly, not through the proxy).
    let mut consumer = q.consumer(100).await;
    let seen = drain(&mut consumer, &confirmed, Duration::from_secs(10)).await;
    for o in &confirmed {
        assert!(seen.contains_key(&o.order_id), "confirmed {o:?} was lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_consumer_loses_no_order() {
    let q = TestQueue::new();
    let publisher = q.publisher().await;
    let orders: Vec<OrderMessage> = (0..20).map(order).collect();
    for o in &orders {
        publisher.publish(o).await.expect("publish");
    }

    let proxy = TcpProxy::start(BROKER).await;
    let mut consumer = AmqpConsumer::connect(&via(&proxy), &q.name, 50)
        .await
        .expect("connect through the proxy");
    let batch = consumer
        .next_batch(100, Duration::from_secs(5))
        .await
        .expect("batch");
    assert!(!batch.orders.is_empty(), "got a batch to hold");

    proxy.cut();
    // The socket is closed under lapin, as a real outage would.
    proxy.wait_until_closed(Duration::from_secs(5)).await;
    let acked = consumer.ack(batch).await;
    eprintln!("ack after the cut: {acked:?}");

    // While cut, the consumer reports the outage rather than hanging.
    let started = Instant::now();
    let during = consumer.next_batch(100, Duration::from_secs(1)).await;
    assert!(
        during.as_ref().map_or(true, |b| b.orders.is_empty()),
        "nothing is delivered while cut"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "no hang while cut"
    );

    proxy.restore();
    let seen = drain(&mut consumer, &orders, Duration::from_secs(15)).await;
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        ids(&orders),
        "every order delivered at least once after restore (ack after cut: {acked:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_fails_publishes_within_the_deadline_then_recovers() {
    let q = TestQueue::new();
    let proxy = TcpProxy::start(BROKER).await;
    let url = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    let publisher = AmqpQueue::connect(&url, &q.name)
        .await
        .expect("connect through the proxy")
        .with_confirm_timeout(Duration::from_millis(500));
    let mut confirmed = vec![order(0)];
    publisher.publish(&confirmed[0]).await.expect("publish");

    proxy.silence();
    // First on the silent link (the confirm deadline), then reconnecting (the connect deadline).
    for n in 1..4 {
        let started = Instant::now();
        let result = publisher.publish(&order(n)).await;
        let took = started.elapsed();
        assert!(result.is_err(), "no confirm, no Ok");
        assert!(took < Duration::from_secs(2), "publish {n} took {took:?}");
        if n == 1 {
            assert!(
                took >= Duration::from_millis(450),
                "waited for the confirm: {took:?}"
            );
        }
    }

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    let again = order(100);
    while publisher.publish(&again).await.is_err() {
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    confirmed.push(again);

    let mut consumer = q.consumer(100).await;
    let seen = drain(&mut consumer, &confirmed, Duration::from_secs(10)).await;
    for o in &confirmed {
        assert!(seen.contains_key(&o.order_id), "confirmed {o:?} was lost");
    }
}
