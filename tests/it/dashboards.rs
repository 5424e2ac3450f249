//! The Grafana dashboard and the Prometheus alert rules in `deploy/` query only metrics the
//! code exports (histograms through their `_bucket`, `_sum` and `_count` series), every panel
//! has a query, and every rule has a name, an expression and a summary. `promtool check
//! rules` runs in CI (`.ci/run`), and here too when promtool is installed.

use std::collections::BTreeSet;

use crate::common::repo;

fn exported() -> BTreeSet<String> {
    railyard::telemetry::metrics::Metrics::new()
        .exported_names()
        .into_iter()
        .collect()
}

/// The `railyard_*` metric names a PromQL expression reads.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("railyard_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

/// Names in `exprs` that are not exported metrics.
fn unknown(exprs: &[String], exported: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for expr in exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "`{expr}` reads no railyard metric");
        for name in names {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|base| exported.contains(*base))
                .unwrap_or(&name);
            if !exported.contains(family) {
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/railyard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "alertlist" {
            continue;
        }
        let targets = panel["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel `{}` has no queries", panel["title"]));
        assert!(
            !targets.is_empty(),
            "panel `{}` has no queries",
            panel["title"]
        );
        for target in targets {
            exprs.push(target["expr"].as_str().expect("a PromQL expr").to_string());
        }
    }
    let exported = exported();
    assert!(
        exported.contains("railyard_events_in_total"),
        "{exported:?}"
    );
    assert_eq!(unknown(&exprs, &exported), Vec::<String>::new());
    // The check has teeth: a misspelt metric is caught.
    assert_eq!(
        unknown(&["rate(railyard_event_in_total[1m])".into()], &exported),
        ["railyard_event_in_total"]
    );
}

#[test]
fn the_alert_rules_query_only_exported_metrics_and_pass_promtool() {
    let path = repo().join("deploy/prometheus/alerts.yml");
    let rules: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).expect("YAML");
    let mut exprs = Vec::new();
    let mut names = BTreeSet::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"].as_str().expect("an alert name");
            assert!(names.insert(name.to_string()), "alert `{name}` twice");
            assert!(
                rule["annotations"]["summary"].is_string(),
                "{name} has no summary"
            );
            exprs.push(rule["expr"].as_str().expect("an expr").to_string());
        }
    }
    assert!(names.len() >= 5, "{names:?}");
    assert_eq!(unknown(&exprs, &exported()), Vec::<String>::new());
    if let Ok(out) = std::process::Command::new("promtool")
        .args(["check", "rules", path.to_str().unwrap()])
        .output()
    {
        assert!(
            out.status.success(),
            "promtool check rules:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
