//! docker-compose.yml cannot run here (no Docker engine), so it is checked as text: valid
//! YAML, valid against the Compose specification's JSON schema (from the docker-compose
//! 1.29.2 package, Apache-2.0, tests/fixtures/compose_spec.json), and consistent with the
//! repository: the topology it runs validates, the files it mounts exist, dependencies name
//! real services, Prometheus scrapes the port railyard serves metrics on.

use crate::common;

use std::collections::BTreeSet;

use common::repo;

fn compose() -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    serde_norway::from_str(&text).expect("docker-compose.yml is YAML")
}

#[test]
fn compose_file_matches_the_compose_specification() {
    let mut schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/compose_spec.json")).unwrap(),
    )
    .unwrap();
    // Its `$schema` URI carries a trailing `#` the validator does not recognise; the draft is
    // given explicitly instead.
    schema.as_object_mut().unwrap().remove("$schema");
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft201909)
        .build(&schema)
        .expect("the spec compiles");
    let document = compose();
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "compose spec violations: {errors:#?}");

    // The schema has teeth: a misspelt service key is rejected.
    let mut broken = document.clone();
    broken["services"]["railyard"]["enviroment"] = serde_json::json!({"A": "b"});
    assert!(
        !validator.is_valid(&broken),
        "a misspelt key must fail validation"
    );
}

#[test]
fn compose_services_are_wired_to_the_repository() {
    let document = compose();
    let services = document["services"].as_object().expect("services");
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    for needed in ["kafka", "schema-registry", "railyard", "prometheus"] {
        assert!(names.contains(needed), "service `{needed}` present");
    }
    for (name, service) in services {
        let depends: Vec<String> = match &service["depends_on"] {
            serde_json::Value::Array(list) => list
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect(),
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        for d in depends {
            assert!(
                names.contains(d.as_str()),
                "{name} depends on unknown service {d}"
            );
        }
        if let Some(volumes) = service["volumes"].as_array() {
            for volume in volumes {
                let host = volume.as_str().unwrap().split(':').next().unwrap();
                if host.starts_with("./") && !host.starts_with("./out") {
                    assert!(repo().join(host).exists(), "{name} mounts missing {host}");
                }
            }
        }
    }
    let railyard = &services["railyard"];
    assert_eq!(railyard["build"]["dockerfile"], "Dockerfile");
    assert!(repo().join("Dockerfile").is_file());
    let command: Vec<&str> = railyard["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(command[0], "run");
    // The topology it runs validates with the environment compose gives it.
    let env = railyard["environment"].as_object().unwrap();
    let mut validate = common::binary();
    validate.current_dir(repo()).args(["validate", command[1]]);
    for (key, value) in env {
        validate.env(key, value.as_str().unwrap());
    }
    let output = validate.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let brokers = env["RAILYARD_BROKERS"].as_str().unwrap();
    assert!(
        brokers.starts_with("kafka:"),
        "railyard talks to the kafka service"
    );
    let bind = env["RAILYARD_METRICS_BIND"].as_str().unwrap();
    let port = bind.rsplit(':').next().unwrap();

    // Its health check asks /readyz on that port, with a client the image installs.
    let check: Vec<&str> = railyard["healthcheck"]["test"]
        .as_array()
        .expect("railyard has a healthcheck")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(check[..2], ["CMD", "curl"]);
    assert!(
        check.last().unwrap().ends_with(&format!(":{port}/readyz")),
        "{check:?}"
    );
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let runtime_stage = dockerfile.rsplit("FROM ").next().unwrap();
    assert!(runtime_stage.contains(" curl "), "the image has curl");

    // Prometheus scrapes that port.
    let prometheus: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("deploy/prometheus/prometheus.yml")).unwrap(),
    )
    .unwrap();
    let scrape = &prometheus["scrape_configs"][0]["dns_sd_configs"][0];
    assert_eq!(scrape["names"][0], "railyard");
    assert_eq!(scrape["port"].as_u64().unwrap().to_string(), port);

    // Topics the init job creates are the ones the topology uses.
    let init = services["kafka-init"]["command"][0].as_str().unwrap();
    let prefix = env["RAILYARD_TOPIC_PREFIX"].as_str().unwrap();
    for topic in [
        env["RAILYARD_INPUT_TOPIC"].as_str().unwrap().to_string(),
        format!("{prefix}verdicts"),
        format!("{prefix}enriched"),
        format!("{prefix}dead_letters"),
    ] {
        assert!(init.contains(&topic), "kafka-init creates {topic}");
    }
}
