//! The configuration as an operator meets it: defaults, overrides, and refusals.

use super::*;
use figment::providers::Env;

fn env_with(vars: &[(&str, &str)]) -> Env {
    // figment's Env reads the real environment; a unique prefix per test keeps tests apart.
    let prefix = format!("FSTEST{}_", rand::random::<u32>());
    for (k, v) in vars {
        std::env::set_var(format!("{prefix}{k}"), v);
    }
    Env::prefixed(&prefix)
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = Config::load_from(None, env_with(&[])).expect("defaults are valid");
    assert_eq!(c.database_url, "sqlite://data/flashsale.db");
    assert_eq!(c.stock_url, "memory:");
    assert_eq!(c.queue_url, "memory:");
    assert_eq!(c.gateway_listen, "127.0.0.1:8080");
    assert_eq!(c.admin_listen, "127.0.0.1:8081");
    assert_eq!(c.cooldown_secs, 10);
    assert_eq!(c.queue_prequeue_secs, 900);
    assert_eq!(c.queue_admit_per_second, 100);
    assert_eq!(c.queue_pass_secs, 300);
    assert_eq!(c.register_pow_difficulty, 0);
    assert_eq!(c.currency, "USD");
    assert_eq!(c.shop_time_zone().expect("UTC"), chrono_tz::UTC);
    assert_eq!(c.ring_members(), vec!["127.0.0.1:8080".to_string()]);
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("flashsale.toml");
    std::fs::write(
        &file,
        "cooldown_secs = 3\ngateway_listen = \"127.0.0.1:9000\"\n",
    )
    .expect("write config");
    let env = env_with(&[
        ("COOLDOWN_SECS", "5"),
        ("RING_NODES", "127.0.0.1:9000, 127.0.0.1:9001"),
        ("COOKIE_SECRET", "12345"),
        ("CLUSTER_SECRET", "shared by the ring"),
    ]);
    let c = Config::load_from(Some(&file), env).expect("valid");
    assert_eq!(c.cooldown_secs, 5);
    assert_eq!(c.gateway_listen, "127.0.0.1:9000");
    assert_eq!(c.ring_nodes, vec!["127.0.0.1:9000", "127.0.0.1:9001"]);
    assert_eq!(c.cookie_secret.as_deref(), Some("12345"));
}

#[test]
fn typos_and_bad_values_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("flashsale.toml");
    std::fs::write(&file, "cooldwn_secs = 3\n").expect("write config");
    let err = Config::load_from(Some(&file), env_with(&[])).expect_err("typo");
    assert!(err.to_string().contains("cooldwn_secs"), "{err}");

    let err = Config::load_from(None, env_with(&[("DATABASE_URL", "postgres://x")]))
        .expect_err("unsupported database");
    assert!(err.to_string().contains("database_url"), "{err}");

    let err = Config::load_from(None, env_with(&[("ADMIN_PASSWORD", "short")]))
        .expect_err("a weak admin password");
    assert!(err.to_string().contains("admin_password"), "{err}");
    let c = Config::load_from(
        None,
        env_with(&[("ADMIN_USER", "boss"), ("ADMIN_PASSWORD", "12345678")]),
    )
    .expect("admin credentials from the environment");
    assert_eq!(c.admin_user, "boss");
    assert_eq!(c.admin_password.as_deref(), Some("12345678"));

    let err = Config::load_from(None, env_with(&[("TIME_ZONE", "Mars/Olympus")]))
        .expect_err("an unknown time zone");
    assert!(err.to_string().contains("time_zone"), "{err}");
    let c = Config::load_from(None, env_with(&[("TIME_ZONE", "Europe/Paris")]))
        .expect("a known time zone");
    assert_eq!(c.shop_time_zone().expect("valid"), chrono_tz::Europe::Paris);
    let c = Config::load_from(None, env_with(&[("CURRENCY", "EUR")])).expect("a currency");
    assert_eq!(c.currency, "EUR");
    for bad in ["eur", "EURO", "€"] {
        let err = Config::load_from(None, env_with(&[("CURRENCY", bad)]))
            .expect_err("not an ISO 4217 code");
        assert!(err.to_string().contains("currency"), "{bad}: {err}");
    }

    let missing = dir.path().join("nope.toml");
    assert!(matches!(
        Config::load_from(Some(&missing), env_with(&[])),
        Err(ConfigError::Missing(_))
    ));
}

const STRONG: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

#[test]
fn a_ring_needs_its_node_listed_and_a_shared_secret() {
    let ring = ("RING_NODES", "127.0.0.1:9000,127.0.0.1:9001");
    let c = Config::load_from(
        None,
        env_with(&[ring, ("GATEWAY_LISTEN", "127.0.0.1:9000")]),
    )
    .expect("the shared config loads");
    let err = c.ring_check().expect_err("no cluster secret");
    assert!(err.to_string().contains("cluster_secret"), "{err}");
    let c = Config::load_from(
        None,
        env_with(&[
            ring,
            ("RING_SELF", "127.0.0.1:9002"),
            ("CLUSTER_SECRET", STRONG),
        ]),
    )
    .expect("the shared config loads");
    let err = c.ring_check().expect_err("not a member");
    assert!(err.to_string().contains("not one of ring_nodes"), "{err}");
    let ok = Config::load_from(
        None,
        env_with(&[
            ring,
            ("GATEWAY_LISTEN", "127.0.0.1:9001"),
            ("CLUSTER_SECRET", STRONG),
        ]),
    )
    .expect("a valid ring");
    ok.ring_check().expect("a member with a strong secret");
    assert_eq!(ok.ring_self(), "127.0.0.1:9001");
}

/// Regression (issue 14, finding 3): with FLASHSALE_RING_NODES in the shared environment,
/// migrate, worker, admin and audit refused to start because they are not ring members.
#[test]
fn a_shared_ring_config_loads_for_processes_outside_the_ring() {
    let c = Config::load_from(
        None,
        env_with(&[
            ("RING_NODES", "10.0.0.1:8080,10.0.0.2:8080"),
            ("CLUSTER_SECRET", STRONG),
        ]),
    )
    .expect("a worker or the admin on another machine loads the shared config");
    assert!(c.ring_check().is_err(), "but it could not join the ring");
}

/// Regression (issue 14, finding 2): an empty cluster secret passed as "set", so a shopper
/// could sign the forwarding marker with the empty key.
#[test]
fn an_empty_or_short_cluster_secret_is_refused() {
    for weak in ["", "s", "short but not 32 bytes", &"ab".repeat(20)] {
        let c = Config::load_from(
            None,
            env_with(&[
                ("RING_NODES", "127.0.0.1:9000,127.0.0.1:9001"),
                ("GATEWAY_LISTEN", "127.0.0.1:9000"),
                ("CLUSTER_SECRET", weak),
            ]),
        )
        .expect("loads");
        let err = c.ring_check().expect_err("a weak cluster secret");
        assert!(
            err.to_string().contains("FLASHSALE_CLUSTER_SECRET")
                && err.to_string().contains("openssl rand"),
            "{weak:?}: {err}"
        );
        // A single node with a configured but weak secret is refused too.
        let c = Config {
            cluster_secret: Some(weak.to_string()),
            ..Config::default()
        };
        assert!(c.cluster_secret().is_err(), "{weak:?}");
    }
}

/// Regression (issue 14, finding 1): an empty or one-byte cookie secret was accepted, and
/// anyone could then forge a login for any shopper.
#[test]
fn an_empty_or_short_cookie_secret_is_refused() {
    for weak in ["", " ", "x", "12345", &"a".repeat(64)] {
        let c = Config::load_from(None, env_with(&[("COOKIE_SECRET", weak)])).expect("loads");
        let err = c.cookie_secret().expect_err("a weak cookie secret");
        let text = err.to_string();
        assert!(
            text.contains("FLASHSALE_COOKIE_SECRET") && text.contains("openssl rand"),
            "{weak:?}: {text}"
        );
    }
    let c = Config {
        cookie_secret: Some(STRONG.into()),
        ..Config::default()
    };
    assert_eq!(c.cookie_secret().expect("strong"), STRONG);
}

/// Regression (issue 14, finding 1): an empty `data/cookie_secret` (a crash between
/// creating and writing it) was used as the key.
#[test]
fn an_empty_or_short_secret_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    for content in ["", "\n", "abc"] {
        std::fs::write(dir.path().join("cookie_secret"), content).expect("write");
        let err = c.cookie_secret().expect_err("a weak secret file");
        assert!(
            err.to_string().contains("cookie_secret") && err.to_string().contains("delete it"),
            "{content:?}: {err}"
        );
    }
}

#[test]
fn secrets_never_show_in_debug() {
    let c = Config {
        cookie_secret: Some("hunter2hunter2".into()),
        admin_password: Some("swordfish-admin".into()),
        admin_token: Some("tok3n-tok3n".into()),
        database_url: "mysql://root:pa55word@127.0.0.1/test".into(),
        ..Config::default()
    };
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("hunter2")
            && !shown.contains("pa55word")
            && !shown.contains("swordfish")
            && !shown.contains("tok3n"),
        "{shown}"
    );
    assert!(shown.contains("mysql://root:***@127.0.0.1/test"), "{shown}");
}

#[test]
fn generated_secret_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    let first = c.cookie_secret().expect("created");
    assert_eq!(first.len(), 64);
    assert_eq!(c.cookie_secret().expect("read back"), first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("data/cookie_secret"))
            .expect("the file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "readable by the owner only");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .expect("data dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("cookie_secret")],
        "no temporary file left"
    );
}
