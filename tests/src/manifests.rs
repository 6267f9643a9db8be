//! Reading the deployment files (`Dockerfile`, `k8s/`, `docker-compose.yml`,
//! Prometheus and Grafana files) for `tests/deployment.rs`: YAML as JSON values,
//! config files through the real loader, env names and admin routes checked
//! against what the code reads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use enricher::config::{Config, DEFAULT_ADMIN_BIND, is_read_elsewhere, is_setting_env};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

pub fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(r) => r.parse::<f64>().map_or(Value::Null, Value::from),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::from(s.as_str()),
        Yaml::Boolean(b) => Value::from(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

/// Every document of a YAML file.
pub fn yaml(path: &str) -> Vec<Value> {
    YamlLoader::load_from_str(&read(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .iter()
        .map(to_json)
        .collect()
}

pub fn admin_port() -> u16 {
    DEFAULT_ADMIN_BIND
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the default admin address has a port")
}

/// A config file through the real loader (file, then `env`), validated.
pub fn load_config(label: &str, toml: &str, env: &[(String, String)]) -> Config {
    let path = std::env::temp_dir().join(format!(
        "enricher-deploy-{label}-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, toml).expect("write config");
    let mut config = Config::from_file(&path).unwrap_or_else(|e| panic!("{label}: {e}"));
    let _ = std::fs::remove_file(&path);
    config
        .apply_env(|name| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()))
        .unwrap_or_else(|e| panic!("{label} env: {e}"));
    config.validate().unwrap_or_else(|e| panic!("{label}: {e}"));
    config
}

pub fn assert_env_names_known<'a>(place: &str, names: impl IntoIterator<Item = &'a str>) {
    for name in names {
        assert!(
            is_setting_env(name) || is_read_elsewhere(name),
            "{place} sets {name}, which the enricher does not read"
        );
    }
}

/// The paths the admin server serves, from the sources of its routers (the
/// API, the probes, the metrics and the status page).
pub fn served_routes() -> BTreeSet<String> {
    [
        "plugins_route.rs",
        "probes.rs",
        "metrics_route.rs",
        "page.rs",
    ]
    .iter()
    .flat_map(|file| {
        read(&format!("host/src/admin/{file}"))
            .split(".route(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    })
    .collect()
}

pub fn assert_route_served(place: &str, path: &str) {
    assert!(
        served_routes().contains(path),
        "{place} uses {path}, which the admin server does not serve"
    );
}

/// The k8s object of `kind` (one per kind here).
pub fn object<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("k8s/ has no {kind}"))
}
