//! The deployment files, checked statically (host/tests/image.rs runs the
//! image's contents and scrapes them):
//! `Dockerfile`, `k8s/`, `docker-compose.yml` and the Prometheus and Grafana
//! files are parsed, and their ports, probe paths, environment names and config
//! files must match what the code reads: the config files go through the real
//! loader, env names through the config's own tables.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use enricher_tests::manifests::{
    admin_port, assert_env_names_known, assert_route_served, load_config, object, read, root, yaml,
};
use serde_json::Value;

/// Time a stopping host may need beyond one commit interval (commit, drain the producer).
const DRAIN: Duration = Duration::from_secs(30);

#[test]
fn dockerfile_builds_with_the_pinned_toolchain_and_runs_unprivileged() {
    let text = read("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let froms: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .copied()
        .collect();
    assert_eq!(froms.len(), 2, "two stages: {froms:?}");
    let channel = read("rust-toolchain.toml")
        .lines()
        .find_map(|l| l.strip_prefix("channel = \""))
        .and_then(|l| l.strip_suffix('"'))
        .map(str::to_owned)
        .expect("pinned channel");
    let minor: String = channel.split('.').take(2).collect::<Vec<_>>().join(".");
    assert!(
        froms[0].starts_with(&format!("FROM rust:{minor}")),
        "the build stage uses the pinned toolchain {channel}: {}",
        froms[0]
    );
    assert!(
        froms[1].contains("-slim"),
        "a small runtime stage: {}",
        froms[1]
    );
    for needed in [
        "rustup target add wasm32-wasip2",
        "scripts/fetch-duckdb",
        "scripts/install --binary",
        "enricher_plugin_typed.wasm",
    ] {
        assert!(text.contains(needed), "the build stage runs {needed}");
    }
    let user = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(!["root", "0", "0:0"].contains(&user), "non-root: {user}");
    let port = admin_port();
    assert!(lines.contains(&format!("EXPOSE {port}").as_str()));
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/healthz")),
        "HEALTHCHECK probes /healthz on the admin port"
    );
    assert!(text.contains("HEALTHCHECK"));
    assert_route_served("HEALTHCHECK", "/healthz");
    // ENV lines: NAME=value pairs, continued with backslashes.
    let joined = text.replace("\\\n", " ");
    let env: Vec<(String, String)> = joined
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ENV "))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| k != "PATH")
        .collect();
    assert_env_names_known("Dockerfile", env.iter().map(|(k, _)| k.as_str()));
    let config_path = env
        .iter()
        .find(|(k, _)| k == "ENRICHER_CONFIG")
        .map(|(_, v)| v.clone())
        .expect("the image names its config");
    let copied = lines
        .iter()
        .find_map(|l| {
            l.strip_prefix("COPY deploy/")
                .and_then(|rest| rest.strip_suffix(&format!(" {config_path}")))
        })
        .map(|source| format!("deploy/{source}"))
        .expect("the config file is copied into the image");
    let config = load_config("image", &read(&copied), &env);
    assert_eq!(
        config.deploy.admin_bind.map(|a| a.port()),
        Some(port),
        "the image's admin server listens on the exposed port"
    );
}

#[test]
fn k8s_manifests_match_what_the_host_reads() {
    let files: Vec<String> = yaml("k8s/kustomization.yaml")[0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(root().join("k8s"))
        .expect("k8s/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n != "kustomization.yaml")
        .collect();
    assert_eq!(files.iter().cloned().collect::<BTreeSet<_>>(), on_disk);
    let objects: Vec<Value> = files
        .iter()
        .flat_map(|f| yaml(&format!("k8s/{f}")))
        .collect();

    let set = object(&objects, "StatefulSet");
    let pod = &set["spec"]["template"];
    let labels = &pod["metadata"]["labels"];
    assert!(
        set["spec"]["replicas"].as_i64().unwrap_or(0) > 1,
        "replicas"
    );
    assert_eq!(&set["spec"]["selector"]["matchLabels"], labels);
    let container = &pod["spec"]["containers"][0];
    let port = admin_port();
    let ports = container["ports"].as_array().expect("ports");
    assert!(
        ports
            .iter()
            .any(|p| p["name"] == "admin" && p["containerPort"] == port),
        "the container names the admin port {port}"
    );

    // The ConfigMap's file through the real loader, with the pod's env.
    let config_map = object(&objects, "ConfigMap");
    let toml = config_map["data"]["enricher.toml"]
        .as_str()
        .expect("enricher.toml");
    let env = container["env"].as_array().expect("env");
    let literal: Vec<(String, String)> = env
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let config = load_config("configmap", toml, &literal);
    assert_eq!(config.deploy.admin_bind.map(|a| a.port()), Some(port));
    assert!(
        config
            .deploy
            .admin_bind
            .is_some_and(|a| a.ip().is_unspecified()),
        "reachable by the kubelet's probes"
    );
    assert!(
        config.deploy.topic_replication >= 3,
        "a production fleet topic"
    );
    let mount = container["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == "config")
        .expect("the ConfigMap is mounted");
    let config_path = literal
        .iter()
        .find(|(k, _)| k == "ENRICHER_CONFIG")
        .map(|(_, v)| v.as_str());
    assert_eq!(
        mount["mountPath"].as_str(),
        config_path,
        "--config names the mounted file"
    );
    let claims_dir = config
        .duckdb
        .path()
        .expect("duckdb url")
        .expect("a file")
        .parent()
        .map(Path::to_owned);
    assert!(
        container["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .any(|m| m["mountPath"].as_str().map(PathBuf::from) == claims_dir),
        "the claims database lives on a volume"
    );

    // Environment: each name is one the host reads; the instance id is the pod's name.
    let secret = object(&objects, "Secret");
    let secret_names: Vec<&str> = secret["stringData"]
        .as_object()
        .expect("stringData")
        .keys()
        .map(String::as_str)
        .collect();
    assert_env_names_known("k8s Secret", secret_names.iter().copied());
    for needed in [
        "ENRICHER_ADMIN_TOKEN",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD",
    ] {
        assert!(secret_names.contains(&needed), "the Secret holds {needed}");
    }
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"],
        secret["metadata"]["name"]
    );
    assert_env_names_known(
        "k8s StatefulSet",
        env.iter().filter_map(|e| e["name"].as_str()),
    );
    let instance = env
        .iter()
        .find(|e| e["name"] == "ENRICHER_INSTANCE_ID")
        .expect("ENRICHER_INSTANCE_ID");
    assert_eq!(
        instance["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );

    // Probes on the admin port, at routes the admin server serves.
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["port"], "admin", "{probe}");
        assert_route_served(probe, path);
    }
    for limit in ["requests", "limits"] {
        for what in ["cpu", "memory"] {
            assert!(
                container["resources"][limit][what].is_string(),
                "resources.{limit}.{what}"
            );
        }
    }
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace");
    assert!(
        Duration::from_secs(grace) > config.kafka.commit_interval + DRAIN,
        "grace {grace}s > commit interval {:?} + drain {DRAIN:?}",
        config.kafka.commit_interval
    );

    // Service and PodDisruptionBudget select these pods.
    for service in objects.iter().filter(|o| o["kind"] == "Service") {
        assert_eq!(&service["spec"]["selector"], labels);
        assert_eq!(service["spec"]["ports"][0]["port"], port);
        assert_eq!(service["spec"]["ports"][0]["targetPort"], "admin");
    }
    let pdb = object(&objects, "PodDisruptionBudget");
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(
        set["spec"]["serviceName"],
        objects
            .iter()
            .find(|o| o["kind"] == "Service" && o["spec"]["clusterIP"] == "None")
            .expect("a headless service")["metadata"]["name"]
    );
}

#[test]
fn compose_stack_wires_prometheus_and_grafana_to_the_enricher() {
    let compose = &yaml("docker-compose.yml")[0];
    let services = compose["services"].as_object().expect("services");
    for name in ["redpanda", "enricher", "prometheus", "grafana"] {
        assert!(services.contains_key(name), "the stack runs {name}");
    }
    let port = admin_port();
    let enricher = &services["enricher"];
    assert!(
        enricher["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p == &format!("{port}:{port}")),
        "the admin port is published"
    );
    for (name, service) in services {
        if let Some(env) = service["environment"].as_object()
            && service["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("enricher"))
        {
            assert_env_names_known(&format!("compose {name}"), env.keys().map(String::as_str));
        }
    }
    let env: Vec<(String, String)> = enricher["environment"]
        .as_object()
        .expect("environment")
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    let config = load_config("compose", &read("deploy/local/enricher.toml"), &env);
    assert_eq!(config.deploy.admin_bind.map(|a| a.port()), Some(port));
    assert_eq!(config.kafka.bootstrap_servers, "redpanda:9092");

    let prometheus = &yaml("deploy/prometheus/prometheus.yml")[0];
    let job = &prometheus["scrape_configs"][0];
    assert_eq!(job["metrics_path"], "/metrics");
    assert_route_served("prometheus", "/metrics");
    assert_eq!(
        job["static_configs"][0]["targets"][0],
        format!("enricher:{port}")
    );
    let mounted = |service: &str, source: &str| -> String {
        services[service]["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .filter_map(Value::as_str)
            .find_map(|v| v.strip_prefix(&format!("./{source}:")))
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_else(|| panic!("{service} mounts {source}"))
            .to_owned()
    };
    assert_eq!(
        mounted("prometheus", "deploy/prometheus/prometheus.yml"),
        "/etc/prometheus/prometheus.yml"
    );
    let dashboards_dir = mounted("grafana", "deploy/grafana/dashboards");
    let provider = &yaml("deploy/grafana/provisioning/dashboards/enricher.yml")[0];
    assert_eq!(
        provider["providers"][0]["options"]["path"],
        dashboards_dir.as_str()
    );

    // The metric names the dashboard queries are checked against a real
    // scrape of the image's host: host/tests/image.rs.
}
