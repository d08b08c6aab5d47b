//! Where and with what the figures were taken: date, machine, versions, the command. Read
//! from /proc and from each tool; a tool that is missing reads "not found".

use std::process::Command;

pub struct Environment {
    pub date: String,
    pub machine: String,
    /// The 1-minute load average before the run and now: other work on the machine.
    pub load: String,
    pub versions: Vec<(&'static str, String)>,
    pub command: String,
}

impl Environment {
    /// `load_before`: [`load_average`] taken before the measurements.
    pub async fn collect(load_before: &str) -> Environment {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let machine = format!(
            "{}, {cores} cores, {:.1} GiB RAM, Linux {}",
            cpu_model(&cpuinfo).unwrap_or("unknown CPU"),
            mem_total_kib(&meminfo).unwrap_or(0) as f64 / (1024.0 * 1024.0),
            kernel.trim()
        );
        let redis = tool(&["redis-cli", "-h", "127.0.0.1", "INFO", "server"])
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("redis_version:"))
                    .map(|v| v.trim().to_string())
            })
            .or_else(|| tool(&["redis-server", "--version"]));
        let versions = vec![
            ("rustc", tool(&["rustc", "--version"])),
            ("nginx", tool(&["nginx", "-v"])),
            ("hugo", tool(&["hugo", "version"])),
            ("wrk", tool(&["wrk", "--version"])),
            ("Redis", redis),
            ("RabbitMQ", tool(&["rabbitmqctl", "version"])),
            ("MariaDB", mariadb_version().await),
        ]
        .into_iter()
        .map(|(name, out)| {
            let version = out
                .as_deref()
                .and_then(version_of)
                .unwrap_or_else(|| "not found".into());
            (name, version)
        })
        .collect();
        let args: Vec<String> = std::env::args().skip(1).collect();
        Environment {
            date: now(),
            machine,
            load: format!(
                "{load_before} before the run, {} after (on {cores} cores)",
                load_average()
            ),
            versions,
            command: format!(
                "cargo run --release -p flashsale-bench -- {}",
                args.join(" ")
            ),
        }
    }

    /// The document's opening: what, when, where, with what.
    pub fn header(&self) -> String {
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|(name, v)| format!("{name} {v}"))
            .collect();
        format!(
            "- Date: {}\n- Machine: {}\n- Load average (1 min): {}\n- Versions: {}\n- Command: `{}`\n",
            self.date,
            self.machine,
            self.load,
            versions.join(", "),
            self.command
        )
    }
}

/// The 1-minute load average, from /proc/loadavg.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn now() -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_else(|_| "unknown".into())
}

/// A tool's output (stdout, or stderr where it prints its version, as nginx does), if it ran.
fn tool(argv: &[&str]) -> Option<String> {
    let out = Command::new(argv[0]).args(&argv[1..]).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    Some(String::from_utf8_lossy(&text).into_owned())
}

async fn mariadb_version() -> Option<String> {
    use sqlx::Row;
    let pool = sqlx::MySqlPool::connect("mysql://root@127.0.0.1:3306/test")
        .await
        .ok()?;
    let version = sqlx::query("SELECT VERSION()")
        .fetch_one(&pool)
        .await
        .ok()
        .and_then(|row| row.try_get::<String, _>(0).ok());
    pool.close().await;
    version
}

/// The version in a tool's first line: its first word with a digit and a dot, without a
/// `name/`, `v=` or `v` in front.
fn version_of(output: &str) -> Option<String> {
    let line = output.lines().find(|l| !l.trim().is_empty())?;
    let word = line
        .split_whitespace()
        .find(|w| w.contains('.') && w.chars().any(|c| c.is_ascii_digit()))?;
    let word = word.rsplit('/').next().unwrap_or(word);
    let word = word.strip_prefix("v=").unwrap_or(word);
    let word = match word.strip_prefix('v') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => word,
    };
    Some(word.to_string())
}

fn cpu_model(cpuinfo: &str) -> Option<&str> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, model)| model.trim())
}

fn mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_found_in_each_tools_own_words() {
        for (output, version) in [
            ("rustc 1.95.0 (59807616e 2026-04-14)\n", "1.95.0"),
            ("nginx version: nginx/1.22.1\n", "1.22.1"),
            (
                "hugo v0.111.3+extended linux/amd64 BuildDate=2023-03-16T08:41:31Z\n",
                "0.111.3+extended",
            ),
            (
                "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer\nUsage: wrk",
                "4.1.0-3+b2",
            ),
            (
                "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0\n",
                "7.0.15",
            ),
            ("7.0.15", "7.0.15"),
            ("\n3.10.8\n", "3.10.8"),
            ("10.11.19-MariaDB-0+deb12u1", "10.11.19-MariaDB-0+deb12u1"),
        ] {
            assert_eq!(version_of(output).as_deref(), Some(version), "{output}");
        }
        assert_eq!(version_of("command not found"), None);
        assert_eq!(version_of(""), None);
    }

    #[test]
    fn machine_facts_are_read_from_proc() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(cpuinfo), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model(""), None);
        assert_eq!(
            mem_total_kib("MemTotal:       24683656 kB\nMemFree: 1 kB\n"),
            Some(24_683_656)
        );
        assert_eq!(mem_total_kib("MemFree: 1 kB\n"), None);
    }
}
