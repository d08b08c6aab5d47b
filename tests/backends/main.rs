//! The shop on its real backends (MariaDB, Redis, RabbitMQ), under storms and faults. Each
//! test has its own database, key prefix and queues, and breaks services only through TCP
//! proxies it owns: the machine's shared services are never stopped.

// A shop on the real services, with proxies in between.
mod util;

// Many shoppers at once through Redis + RabbitMQ + MariaDB.
mod storm;
// The worker killed mid-drain, the broker, Redis and the database cut.
mod faults;
// A ring of three gateways: each shopper decided by one owner.
mod cluster;
// A worker's health and metrics.
mod worker_metrics;
// Revoked sessions while Redis is cut.
mod sessions;
// `flashsale up` on the real services SIGKILLed mid-storm.
mod crash;
// `flashsale audit` on books made inconsistent by hand.
mod audit;
// Three workers competing for one queue, one killed again and again, the database cut.
mod competing;
// The waiting room on Redis and a ring of three: the draw, admission at the rate, faults.
mod room;
// A shopper's orders listed while still on RabbitMQ, then confirmed from MariaDB.
mod orders;
