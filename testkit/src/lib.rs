//! flashsale-testkit: helpers for tests against the real services.
//!
//! - [`ceiling`]: the HTTP ceiling, a pingora server that answers every request at once.
//! - [`nginx`]: `deploy/nginx.conf` with its `# SET:` lines given this machine's values.
//! - [`process`]: servers started as processes: where they listen, and stopping them with
//!   their children.
//! - [`proxy`]: a TCP proxy a test puts between the code and a service, to cut and restore.
//! - [`services`]: where the shared services are, a loud reachability check, fresh MySQL
//!   databases, unique names.

pub mod ceiling;
pub mod nginx;
pub mod process;
pub mod proxy;
pub mod services;

pub use process::{read_until, stop_gracefully, Started};
pub use proxy::TcpProxy;
pub use services::{
    delete_redis_keys, free_port, loopback_listener, mysql_database, require, unique_name,
    TestDatabase,
};
