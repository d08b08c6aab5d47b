//! The HTTP ceiling of this machine (`flashsale_testkit::ceiling`): a minimal pingora server
//! that answers every request at once with a 202 the size of a Buy's answer.

use flashsale_testkit::ceiling::{self, Ceiling};

/// Starts the responder on `addr`, on as many threads as the gateway has; it stops when
/// dropped.
pub fn spawn(addr: &str) -> Ceiling {
    ceiling::spawn(
        addr,
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    )
}
