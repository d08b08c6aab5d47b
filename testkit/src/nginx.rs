//! `deploy/nginx.conf` run on this machine (by the deploy tests and the benchmark): the lines
//! it marks `# SET:`, and only those, given local values.

use std::path::PathBuf;

/// This run's values for the lines of `deploy/nginx.conf` marked `# SET:`.
pub struct LocalNginx {
    /// Where the pid file and the logs go.
    pub dir: PathBuf,
    /// `host:port` nginx listens on.
    pub listen: String,
    /// The `dist/` nginx serves.
    pub root: PathBuf,
    /// The gateways (`host:port` each, as the ring names them).
    pub gateways: Vec<String>,
}

pub const SET_MARK: &str = "# SET:";

impl LocalNginx {
    /// `deploy/nginx.conf` with its `# SET:` lines, and only those, given this run's values.
    pub fn rewrite(&self, conf: &str) -> String {
        let mut out = String::new();
        let mut upstream_written = false;
        let mut owners_mapped = false;
        let mut owner_upstreams_written = false;
        for line in conf.lines() {
            if !line.contains(SET_MARK) || line.trim_start().starts_with('#') {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let indent = &line[..line.len() - line.trim_start().len()];
            let directive = line.split_whitespace().next().unwrap_or("");
            let file = |name: &str| self.dir.join(name).display().to_string();
            let owner_upstream = |i: usize, g: &String| {
                let backups: String = (1..self.gateways.len())
                    .map(|k| {
                        format!(
                            " server {} backup;",
                            self.gateways[(i + k) % self.gateways.len()]
                        )
                    })
                    .collect();
                format!(
                    "upstream flashsale_owner{i} {{ server {g} max_fails=3 fail_timeout=5s;{backups} keepalive 32; }}"
                )
            };
            let replaced = match directive {
                // One map line and one upstream per gateway, named as the ring names it.
                _ if line.contains("SET: owner map") && owners_mapped => vec![],
                _ if line.contains("SET: owner map") => {
                    owners_mapped = true;
                    self.gateways
                        .iter()
                        .enumerate()
                        .map(|(i, g)| format!("{g} flashsale_owner{i};"))
                        .collect()
                }
                _ if line.contains("SET: owner upstream") && owner_upstreams_written => vec![],
                _ if line.contains("SET: owner upstream") => {
                    owner_upstreams_written = true;
                    self.gateways
                        .iter()
                        .enumerate()
                        .map(|(i, g)| owner_upstream(i, g))
                        .collect()
                }
                // The workers still run as www-data (when the test runs as root).
                "user" => vec![line.trim().to_string()],
                "pid" => vec![format!("pid {};", file("nginx.pid"))],
                "error_log" => vec![format!("error_log {};", file("error.log"))],
                "access_log" => vec![format!("access_log {};", file("access.log"))],
                "listen" => vec![format!("listen {};", self.listen)],
                "root" => vec![format!("root {};", self.root.display())],
                // The upstream's servers become this run's gateways, in one go.
                "server" if upstream_written => vec![],
                "server" => {
                    upstream_written = true;
                    self.gateways
                        .iter()
                        .map(|g| format!("server {g} max_fails=3 fail_timeout=5s;"))
                        .collect()
                }
                other => panic!(
                    "deploy/nginx.conf marks a `{other}` line with {SET_MARK}; teach \
                     testkit's nginx.rs what to put there"
                ),
            };
            for directive in replaced {
                out.push_str(indent);
                out.push_str(&directive);
                out.push('\n');
            }
        }
        out
    }
}
