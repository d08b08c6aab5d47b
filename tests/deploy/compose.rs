//! `deploy/docker-compose.yml` checked without a container engine: Debian's `docker-compose`
//! (v1) validates and resolves it (`config`), and the resolved file is checked for what the
//! deployment needs: a ring of gateways that agree, competing workers, health checks that
//! gate the start order, named volumes, and secrets only from the environment. The gateways'
//! health check is run for real against a gateway.

use crate::util::{read_repo_file, repo_file, require_tool, Shop};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

const DOCKER_COMPOSE: &str = "/usr/bin/docker-compose";

/// The variables `deploy/env.example` lists: the secrets compose needs.
fn secret_names() -> Vec<String> {
    read_repo_file("deploy/env.example")
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| l.split('=').next().unwrap_or("").to_string())
        .collect()
}

/// `docker-compose config` of the repository's file, with `env_file` as its `.env` and none of
/// the secrets in the process environment.
fn compose_config(env_file: &Path) -> Output {
    require_tool(DOCKER_COMPOSE, "docker-compose");
    let mut command = Command::new(DOCKER_COMPOSE);
    command
        .arg("--env-file")
        .arg(env_file)
        .arg("-f")
        .arg(repo_file("deploy/docker-compose.yml"))
        .arg("config");
    for name in secret_names() {
        command.env_remove(name);
    }
    command.output().expect("run docker-compose")
}

/// The resolved compose file, with a fresh value for every secret.
fn resolved() -> (Value, BTreeMap<String, String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets: BTreeMap<String, String> = secret_names()
        .into_iter()
        .map(|name| {
            let value = flashsale_core::config::random_secret();
            (name, value)
        })
        .collect();
    let env_file = dir.path().join(".env");
    let text: String = secrets.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(&env_file, text).expect("write .env");
    let out = compose_config(&env_file);
    assert!(
        out.status.success(),
        "docker-compose config refused deploy/docker-compose.yml:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = serde_yaml::from_slice(&out.stdout).expect("docker-compose prints YAML");
    (config, secrets)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn services(config: &Value) -> BTreeMap<String, Value> {
    config["services"]
        .as_mapping()
        .expect("services")
        .iter()
        .map(|(k, v)| (text(k).to_string(), v.clone()))
        .collect()
}

fn command(service: &Value) -> Vec<&str> {
    service["command"]
        .as_sequence()
        .map(|s| s.iter().map(text).collect())
        .unwrap_or_default()
}

#[test]
fn compose_refuses_to_start_without_the_secrets() {
    let raw = read_repo_file("deploy/docker-compose.yml");
    for name in secret_names() {
        assert!(
            raw.contains(&format!("${{{name}:?set {name}}}")),
            "{name} is not required as ${{{name}:?set {name}}} in docker-compose.yml"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join(".env");
    std::fs::write(&empty, "").expect("write .env");
    let out = compose_config(&empty);
    assert!(!out.status.success(), "compose ran without any secret");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("set "), "no 'set VAR' message: {stderr}");
}

#[test]
fn compose_runs_a_ring_workers_and_nginx_in_order() {
    let (config, secrets) = resolved();
    let services = services(&config);
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    for wanted in [
        "mariadb", "redis", "rabbitmq", "migrate", "sitegen", "gateway1", "gateway2", "gateway3",
        "worker1", "worker2", "admin", "nginx",
    ] {
        assert!(names.contains(wanted), "no service {wanted}: {names:?}");
    }

    // The ring: every gateway lists the same members, each is one of them under its own name,
    // and they share the cookie and cluster secrets.
    let gateways: Vec<(&String, &Value)> = services
        .iter()
        .filter(|(_, s)| command(s) == ["gateway"])
        .collect();
    assert_eq!(gateways.len(), 3, "three gateways");
    let members: Vec<String> = gateways.iter().map(|(n, _)| format!("{n}:8080")).collect();
    let mut selves = BTreeSet::new();
    for (name, gateway) in &gateways {
        let env = &gateway["environment"];
        let ring: Vec<String> = text(&env["FLASHSALE_RING_NODES"])
            .split(',')
            .map(String::from)
            .collect();
        assert_eq!(ring, members, "{name}: ring members");
        let me = text(&env["FLASHSALE_RING_SELF"]);
        assert!(ring.iter().any(|m| m == me), "{name} is not in its ring");
        assert!(selves.insert(me.to_string()), "{me} twice");
        for secret in ["FLASHSALE_COOKIE_SECRET", "FLASHSALE_CLUSTER_SECRET"] {
            assert_eq!(text(&env[secret]), secrets[secret], "{name}: {secret}");
        }
        assert!(
            !gateway["healthcheck"]["test"].is_null(),
            "{name} has no health check"
        );
    }

    // Workers: at least two competing consumers of the gateways' queue and database.
    let queue = text(&gateways[0].1["environment"]["FLASHSALE_QUEUE_URL"]);
    let database = text(&gateways[0].1["environment"]["FLASHSALE_DATABASE_URL"]);
    assert!(queue.starts_with("amqp://") && database.starts_with("mysql://"));
    let workers: Vec<&Value> = services
        .values()
        .filter(|s| command(s) == ["worker"])
        .collect();
    assert!(workers.len() >= 2, "two workers at least");
    for worker in &workers {
        assert_eq!(text(&worker["environment"]["FLASHSALE_QUEUE_URL"]), queue);
        assert_eq!(
            text(&worker["environment"]["FLASHSALE_DATABASE_URL"]),
            database
        );
    }
    assert_eq!(command(&services["migrate"]), ["migrate"]);
    assert_eq!(command(&services["sitegen"]), ["sitegen"]);
    assert_eq!(command(&services["admin"]), ["admin"]);

    // Start order: a dependency on a one-shot waits for its success, on a server for its
    // health check; every long-running server has one.
    let one_shots = ["migrate", "sitegen"];
    for (name, service) in &services {
        let is_server = !one_shots.contains(&name.as_str()) && command(service) != ["worker"];
        if is_server && name != "admin" {
            assert!(
                !service["healthcheck"]["test"].is_null(),
                "{name} has no health check"
            );
        }
        let Some(depends) = service["depends_on"].as_mapping() else {
            continue;
        };
        for (on, how) in depends {
            let on = text(on);
            let wanted = if one_shots.contains(&on) {
                "service_completed_successfully"
            } else {
                "service_healthy"
            };
            assert_eq!(text(&how["condition"]), wanted, "{name} depends on {on}");
        }
    }
    for service in ["migrate", "redis", "rabbitmq"] {
        assert!(
            !services["gateway1"]["depends_on"][service].is_null(),
            "gateway1 starts before {service}"
        );
    }
    for gateway in ["gateway1", "gateway2", "gateway3", "sitegen"] {
        assert!(
            !services["nginx"]["depends_on"][gateway].is_null(),
            "nginx starts before {gateway}"
        );
    }

    // Volumes are named (declared at the top), and the site is one volume: written by sitegen
    // and the gateways, read only by nginx.
    let declared: BTreeSet<&str> = config["volumes"]
        .as_mapping()
        .expect("volumes")
        .keys()
        .map(text)
        .collect();
    let mut dist_mounts = BTreeMap::new();
    for (name, service) in &services {
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let spec = text(volume);
            let source = spec.split(':').next().unwrap_or("");
            assert!(
                declared.contains(source),
                "{name}: {spec} is not a named volume"
            );
            if source == "dist" {
                dist_mounts.insert(name.as_str(), spec.to_string());
            }
        }
    }
    for name in ["sitegen", "gateway1", "gateway2", "gateway3", "nginx"] {
        assert!(dist_mounts.contains_key(name), "{name} does not mount dist");
    }
    assert!(
        dist_mounts["nginx"].ends_with(":ro"),
        "{}",
        dist_mounts["nginx"]
    );
    assert!(dist_mounts["nginx"].contains(":/srv/flashsale/dist"));

    // nginx is built from the Dockerfile's nginx stage, the shop from its default stage.
    assert_eq!(text(&services["nginx"]["build"]["target"]), "nginx");
    assert_eq!(
        text(&services["gateway1"]["build"]["dockerfile"]),
        "deploy/Dockerfile"
    );
}

#[tokio::test]
async fn the_gateway_health_check_passes_on_a_gateway_and_fails_without_one() {
    let (config, _) = resolved();
    let test = config["services"]["gateway1"]["healthcheck"]["test"]
        .as_sequence()
        .expect("a health check command");
    let parts: Vec<&str> = test.iter().map(text).collect();
    assert_eq!(parts[..3], ["CMD", "bash", "-c"], "{parts:?}");
    // As the engine runs it: `$$` is compose's escape of `$`.
    let script = parts[3].replace("$$", "$");
    assert!(script.contains("/8080"), "{script}");

    let shop = Shop::start().await;
    let port = shop.addr.rsplit(':').next().expect("port");
    let run = |script: String| {
        tokio::task::spawn_blocking(move || {
            Command::new("bash")
                .arg("-c")
                .arg(script)
                .output()
                .expect("run bash")
        })
    };
    let up = run(script.replace("/8080", &format!("/{port}")))
        .await
        .expect("health check");
    assert!(
        up.status.success(),
        "the health check failed on a running gateway: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    // A port nothing listens on (free_port's race only matters to a server that binds it).
    let nothing = flashsale_testkit::free_port();
    let down = run(script.replace("/8080", &format!("/{nothing}")))
        .await
        .expect("health check");
    assert!(
        !down.status.success(),
        "the health check passed with no gateway"
    );
}

#[test]
fn the_dockerfile_builds_one_binary_run_by_a_plain_user() {
    let dockerfile = read_repo_file("deploy/Dockerfile");
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 3, "builder, nginx, shop: {stages:?}");
    assert!(stages[0].ends_with("AS builder"), "{stages:?}");
    assert!(stages[1].ends_with("AS nginx"), "{stages:?}");
    assert!(
        stages[2].starts_with("FROM debian:") && stages[2].contains("-slim"),
        "the default (last) stage is the small runtime: {stages:?}"
    );
    let runtime = &dockerfile[dockerfile.find(stages[2]).expect("stage")..];
    let directive = |name: &str| -> Vec<&str> {
        runtime
            .lines()
            .filter(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim())
            .collect()
    };
    assert_eq!(directive("USER "), ["flashsale"]);
    assert_eq!(directive("ENTRYPOINT "), ["[\"flashsale\"]"]);
    assert_eq!(
        directive("COPY "),
        ["--from=builder /usr/local/bin/flashsale /usr/local/bin/flashsale"],
        "only the binary goes into the runtime"
    );
    assert!(dockerfile.contains("COPY deploy/nginx.conf /etc/nginx/nginx.conf"));
    assert!(dockerfile.contains("cmake"), "pingora needs cmake to build");
}
