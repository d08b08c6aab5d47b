//! Servers a test or benchmark runs as processes: where they listen (read from what they
//! print), and stopping them without leaving their children behind.

use std::io::{BufRead, BufReader};
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

/// What a started `flashsale` command printed on stdout, up to a line it was waited for.
#[derive(Debug)]
pub struct Started {
    /// Every line read, each ending in a newline.
    pub printed: String,
}

impl Started {
    /// Where the command's `part` listens, from its `listening <part>=<host:port>` line;
    /// panics, showing what was printed, when there is none.
    pub fn addr(&self, part: &str) -> String {
        let prefix = format!("listening {part}=");
        self.printed
            .lines()
            .find_map(|line| line.trim().strip_prefix(&prefix))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{}", self.printed))
    }
}

/// Reads `child`'s stdout (which must be piped) up to its first line containing `until`.
/// The servers of a `flashsale` command print where they listen (`listening
/// <part>=<host:port>`) once they accept connections, so a command started on port 0 is
/// reached without guessing a port or polling. The rest of stdout is read and dropped on a
/// thread, so the command never blocks on a full pipe. `Err` holds what was printed when
/// stdout ended first (the command exited).
pub fn read_until(child: &mut Child, until: &str) -> Result<Started, String> {
    let stdout = child.stdout.take().expect("the command's stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = String::new();
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        printed.push_str(&line);
        printed.push('\n');
        if line.contains(until) {
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(Started { printed });
        }
    }
    Err(printed)
}
