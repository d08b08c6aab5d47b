//! Stopping a server a test or benchmark started, without leaving its children behind.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Asks a server to stop with its own `stop` command (`nginx -s stop`: the master takes its
/// workers along, where a SIGKILL of the master would leave them running), waits up to 5 s
/// for `child` to exit, and kills it only if that did not work.
pub fn stop_gracefully(stop: &mut Command, child: &mut Child) {
    let stopped = stop.output().is_ok_and(|o| o.status.success());
    if stopped {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
