//! `deploy/flashsale.toml` documents every option: loaded through the real config loader, it
//! gives the defaults, and each key of `Config` is in it with a line saying what it does. A
//! new key without its line here fails this test.

use crate::util::{read_repo_file, repo_file};
use flashsale_core::Config;

/// The keys of `Config`, as the loader names them.
fn config_keys() -> Vec<String> {
    let value = serde_json::to_value(Config::default()).expect("Config serialises");
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

/// The key of a line `key = …` or `# key = …`, if it is one.
fn key_of(line: &str) -> Option<&str> {
    let line = line.strip_prefix("# ").unwrap_or(line);
    let (key, _) = line.split_once(" = ")?;
    key.bytes()
        .all(|b| b.is_ascii_lowercase() || b == b'_')
        .then_some(key)
}

#[test]
fn the_file_loads_and_holds_the_defaults() {
    let loaded = Config::load(Some(&repo_file("deploy/flashsale.toml")))
        .expect("deploy/flashsale.toml loads");
    assert_eq!(
        serde_json::to_value(&loaded).expect("serialise"),
        serde_json::to_value(Config::default()).expect("serialise"),
        "deploy/flashsale.toml does not give the defaults"
    );
}

#[test]
fn every_key_is_documented_once_with_a_line_on_what_it_does() {
    let file = read_repo_file("deploy/flashsale.toml");
    let lines: Vec<&str> = file.lines().collect();
    for key in config_keys() {
        let at: Vec<usize> = (0..lines.len())
            .filter(|&i| key_of(lines[i]) == Some(key.as_str()))
            .collect();
        assert_eq!(
            at.len(),
            1,
            "{key} appears {} times in flashsale.toml",
            at.len()
        );
        let above = at[0].checked_sub(1).map(|i| lines[i]).unwrap_or("");
        assert!(
            above.starts_with("# ") && key_of(above).is_none(),
            "{key}: no line saying what it does above it"
        );
    }
}

#[test]
fn the_commented_examples_are_valid_too() {
    // Uncommenting an example must give a config that loads: right key, right type.
    let file = read_repo_file("deploy/flashsale.toml");
    let keys = config_keys();
    let mut uncommented = 0;
    let text: String = file
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(example) if key_of(line).is_some_and(|k| keys.iter().any(|c| c == k)) => {
                uncommented += 1;
                format!("{example}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    assert!(uncommented >= 5, "the optional keys are examples");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flashsale.toml");
    std::fs::write(&path, text).expect("write");
    let loaded = Config::load(Some(&path)).expect("the examples load");
    assert_eq!(loaded.ring_self(), "gateway1:8080");
    assert!(loaded.cluster_secret.is_some() && loaded.cookie_secret.is_some());
}
