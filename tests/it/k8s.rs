//! deploy/k8s/ cannot be applied here (no cluster), so it is checked as text against the
//! repository: the Deployment's probes use /healthz (startup, liveness) and /readyz
//! (readiness) on the port the topology serves them on, the topology it runs validates with
//! the environment it gives, and the KEDA ScaledObject scales that Deployment on the lag of
//! the same group, topic and brokers.

use crate::common;

use serde_json::Value;

use common::repo;

fn manifest(name: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("deploy/k8s").join(name)).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{name} is YAML: {e}"))
}

fn env_of(container: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn env<'a>(vars: &'a [(String, String)], name: &str) -> &'a str {
    &vars.iter().find(|(k, _)| k == name).unwrap().1
}

#[test]
fn the_deployment_probes_healthz_and_readyz_where_railyard_serves_them() {
    let deployment = manifest("deployment.yaml");
    assert_eq!(deployment["kind"], "Deployment");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let vars = env_of(container);
    let port: u64 = env(&vars, "RAILYARD_METRICS_BIND")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let ports = container["ports"].as_array().unwrap();
    let ops = ports.iter().find(|p| p["containerPort"] == port).unwrap();
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["port"], ops["name"], "{probe} on the ops port");
    }
    // The drain deadline fits in the grace period.
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(grace >= 20, "{grace}");

    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "run");
    let mut validate = common::binary();
    validate.current_dir(repo()).args(["validate", args[1]]);
    for (key, value) in &vars {
        validate.env(key, value);
    }
    let out = validate.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn keda_scales_the_deployment_on_its_own_group_lag() {
    let deployment = manifest("deployment.yaml");
    let vars = env_of(&deployment["spec"]["template"]["spec"]["containers"][0]);
    let scaled = manifest("keda-scaledobject.yaml");
    assert_eq!(scaled["apiVersion"], "keda.sh/v1alpha1");
    assert_eq!(scaled["kind"], "ScaledObject");
    assert_eq!(
        scaled["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    let trigger = &scaled["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "kafka");
    let meta = &trigger["metadata"];
    assert_eq!(meta["consumerGroup"], env(&vars, "RAILYARD_GROUP"));
    assert_eq!(meta["topic"], env(&vars, "RAILYARD_INPUT_TOPIC"));
    assert_eq!(meta["bootstrapServers"], env(&vars, "RAILYARD_BROKERS"));
    let threshold: u64 = meta["lagThreshold"].as_str().unwrap().parse().unwrap();
    assert!(threshold > 0);
    let (min, max) = (
        scaled["spec"]["minReplicaCount"].as_u64().unwrap(),
        scaled["spec"]["maxReplicaCount"].as_u64().unwrap(),
    );
    assert!(1 <= min && min <= max, "{min}..{max}");
}
