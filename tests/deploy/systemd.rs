//! The systemd units of `deploy/systemd/`, checked by systemd's own tools: `systemd-analyze
//! verify` (syntax, known settings, the binary exists) with ExecStart pointed at the binary
//! these tests built, and `systemd-analyze security` for the hardening.

use crate::util::{repo_file, require_tool};
use std::path::PathBuf;
use std::process::Command;

const SYSTEMD_ANALYZE: &str = "/usr/bin/systemd-analyze";
const INSTALLED_BINARY: &str = "/usr/local/bin/flashsale";

/// `(file name, text)` of every unit.
fn units() -> Vec<(String, String)> {
    let dir = repo_file("deploy/systemd");
    let mut units: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".service"))
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).expect("read unit");
            (name, text)
        })
        .collect();
    units.sort();
    units
}

/// The values of `key=` in `unit`, in order.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// The units with ExecStart on the test build of `flashsale`, in a fresh directory.
fn units_on_this_build() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let binary = env!("CARGO_BIN_EXE_flashsale");
    let mut paths = Vec::new();
    for (name, text) in units() {
        let path = dir.path().join(&name);
        std::fs::write(&path, text.replace(INSTALLED_BINARY, binary)).expect("write unit");
        paths.push(path);
    }
    (dir, paths)
}

fn analyze(args: &[&str], units: &[PathBuf]) -> (bool, String) {
    require_tool(SYSTEMD_ANALYZE, "systemd");
    let out = Command::new(SYSTEMD_ANALYZE)
        .args(args)
        .args(units)
        .output()
        .expect("run systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn the_units_verify_cleanly() {
    let (dir, mut paths) = units_on_this_build();
    let names: Vec<String> = units().into_iter().map(|(n, _)| n).collect();
    for wanted in [
        "flashsale-gateway.service",
        "flashsale-worker.service",
        "flashsale-worker@.service",
        "flashsale-admin.service",
    ] {
        assert!(names.iter().any(|n| n == wanted), "no {wanted}: {names:?}");
    }
    // An instance of the template, as `systemctl start flashsale-worker@1` makes it.
    paths.push(dir.path().join("flashsale-worker@1.service"));
    let (ok, said) = analyze(&["verify"], &paths);
    // A warning (an unknown or misspelt setting) still exits 0: nothing may be said at all.
    assert!(
        ok && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );
}

#[test]
fn the_units_are_hardened() {
    let (_dir, paths) = units_on_this_build();
    for path in &paths {
        // The exposure score, 0 (locked down) to 10 (root with everything): at most 2.
        let (ok, said) = analyze(
            &["security", "--offline=true", "--threshold=20"],
            std::slice::from_ref(path),
        );
        let score = said.lines().last().unwrap_or("");
        assert!(ok, "{}: {score}", path.display());
    }
    for (name, unit) in units() {
        let user = values(&unit, "User");
        assert!(
            user == ["flashsale"] || values(&unit, "DynamicUser") == ["yes"],
            "{name} runs as {user:?}"
        );
        for (key, value) in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("EnvironmentFile", "/etc/flashsale/env"),
            ("KillSignal", "SIGTERM"),
        ] {
            assert_eq!(values(&unit, key), [value], "{name}: {key}");
        }
    }
}

#[test]
fn each_unit_runs_its_command_and_stops_as_the_command_expects() {
    let binary = env!("CARGO_BIN_EXE_flashsale");
    for (name, unit) in units() {
        let exec = values(&unit, "ExecStart");
        assert_eq!(exec.len(), 1, "{name}: one ExecStart");
        let args: Vec<&str> = exec[0].split_whitespace().collect();
        assert_eq!(args[0], INSTALLED_BINARY, "{name}");
        let command = *args.last().expect("a command");
        let kind = name
            .trim_start_matches("flashsale-")
            .trim_end_matches(".service")
            .trim_end_matches('@');
        assert_eq!(command, kind, "{name} runs `flashsale {command}`");
        // The arguments are the CLI's: it parses them (with --help, it only prints).
        let out = Command::new(binary)
            .args(&args[1..])
            .arg("--help")
            .output()
            .expect("run flashsale");
        assert!(
            out.status.success(),
            "{name}: flashsale does not take {:?}: {}",
            &args[1..],
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let unit = |name: &str| {
        units()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
    };
    // SIGHUP reloads the gateway's ring members.
    let gateway = unit("flashsale-gateway.service");
    assert_eq!(values(&gateway, "ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    // The worker gets time to commit its batch in flight after SIGTERM.
    let worker = unit("flashsale-worker.service");
    let stop: Vec<u64> = values(&worker, "TimeoutStopSec")
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    assert!(stop.len() == 1 && stop[0] >= 30, "TimeoutStopSec {stop:?}");
    // The template is the single unit, instanced: the same service, whatever the comments say.
    let service = |text: &str| -> Vec<String> {
        let start = text.find("[Service]").expect("[Service]");
        let end = text.find("[Install]").expect("[Install]");
        text[start..end]
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(String::from)
            .collect()
    };
    assert_eq!(
        service(&worker),
        service(&unit("flashsale-worker@.service")),
        "flashsale-worker.service and flashsale-worker@.service differ"
    );
}
