//! The dependency rule of `src/lib.rs`, kept true: every top-level module of the crate uses
//! only modules of lower layers (so there are no import cycles), and operators never touch
//! the broker client.

use std::collections::BTreeSet;
use std::path::Path;

/// The layers, lowest first; the same table as the crate doc.
const LAYERS: &[&[&str]] = &[
    &["model", "diagnostics"],
    &["inference"],
    &["operators"],
    &["config"],
    &["codec"],
    &["io"],
    &["audit", "vault", "monitor"],
    &["telemetry"],
    &["topology"],
    &["kafka"],
    &["runtime"],
    &["eval", "bench", "replay"],
    &["feedback"],
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| {
            panic!(
                "module `{module}` is not in the layer table of tests/it/layout.rs and src/lib.rs"
            )
        })
}

/// The code of a file without its unit tests (they may reach anywhere).
fn shipped_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Names following `crate::` in `code`, including those inside `use crate::{a, b::c}`.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find(';').unwrap_or(group.len());
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group[..end].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => {
                        names.insert(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(ident(rest));
        }
    }
    names
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_uses_only_lower_layers() {
    let src = crate::common::repo().join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let modules: BTreeSet<String> = all
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            first.trim_end_matches(".rs").to_string()
        })
        .filter(|m| m != "lib" && m != "main" && m != "cli")
        .collect();
    let mut violations = Vec::new();
    for path in &all {
        let rel = path.strip_prefix(&src).unwrap();
        let module = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if !modules.contains(&module) {
            continue;
        }
        let code = shipped_code(path);
        for used in crate_references(&code) {
            if used == module || !modules.contains(&used) {
                continue;
            }
            if layer(&used) >= layer(&module) {
                violations.push(format!("{} uses crate::{used}", rel.display()));
            }
        }
        if module == "operators" && code.contains("rdkafka") {
            violations.push(format!("{} names rdkafka", rel.display()));
        }
    }
    assert!(
        violations.is_empty(),
        "the dependency rule is broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_reference_extraction_sees_grouped_imports() {
    let names =
        crate_references("use crate::{model::Event, config::{A, B}};\nlet x = crate::io::f();");
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["config", "io", "model"]
    );
}
