//! Environment-variable interpolation in topology string values.
//!
//! `${NAME}` is replaced by the variable's value, `${NAME:-default}` falls back to `default`
//! when it is unset or empty, and `$$` is a literal `$`. Interpolation runs on parsed TOML
//! string values only, so a variable's content can never change the document's structure.

use crate::diagnostics::{join, Errors};

/// Looks a variable up; injected so tests do not depend on the process environment.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Interpolates every string inside `value`, recording errors with their TOML paths.
pub fn interpolate_value(value: &mut toml::Value, path: &str, env: &dyn Env, errors: &mut Errors) {
    match value {
        toml::Value::String(s) if s.contains('$') => match interpolate_str(s, env) {
            Ok(replaced) => *s = replaced,
            Err(message) => errors.push(path, message),
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{i}]"), env, errors);
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                interpolate_value(item, &join(path, key), env, errors);
            }
        }
        _ => {}
    }
}

/// Interpolates one string.
pub fn interpolate_str(input: &str, env: &dyn Env) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let close = body
                .find('}')
                .ok_or_else(|| "unclosed `${` in string".to_string())?;
            let expr = &body[..close];
            let (name, default) = match expr.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid variable name `{name}` in `${{...}}`"));
            }
            match (env.get(name).filter(|v| !v.is_empty()), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set (use `${{{name}:-default}}` for a default)"
                    ))
                }
            }
            rest = &body[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);
    impl Env for MapEnv {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    #[test]
    fn interpolation_cases() {
        let env = MapEnv(HashMap::from([("HOME_DIR", "/srv"), ("EMPTY", "")]));
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("plain", Ok("plain")),
            ("${HOME_DIR}/data", Ok("/srv/data")),
            ("${MISSING:-fallback}", Ok("fallback")),
            ("${EMPTY:-fallback}", Ok("fallback")),
            ("cost $$5", Ok("cost $5")),
            ("lone $ sign", Ok("lone $ sign")),
            (
                "${MISSING}",
                Err("environment variable `MISSING` is not set"),
            ),
            ("${HOME_DIR", Err("unclosed")),
            ("${bad-name}", Err("invalid variable name")),
        ];
        for (input, expected) in cases {
            let got = interpolate_str(input, &env);
            match (expected, &got) {
                (Ok(want), Ok(have)) => assert_eq!(have, want, "input {input}"),
                (Err(want), Err(have)) => assert!(have.contains(want), "input {input}: {have}"),
                _ => panic!("input {input}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn errors_carry_the_toml_path() {
        let env = MapEnv(HashMap::new());
        let mut value: toml::Value = toml::from_str("[sinks.out]\npath = '${NOPE}'").unwrap();
        let mut errors = Errors::default();
        interpolate_value(&mut value, "", &env, &mut errors);
        assert_eq!(errors.len(), 1);
        let err = errors.into_vec();
        assert_eq!(err[0].path, "sinks.out.path");
    }
}
