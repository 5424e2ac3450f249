//! The canonical byte form of a JSON value: object keys sorted, no whitespace, numbers and
//! strings as serde_json writes them. Writer and verifier hash exactly these bytes, so a
//! record re-serialized with other key order or spacing still verifies, and any change to a
//! value does not.

use serde_json::{Map, Value};

/// Canonical bytes of `value`.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write(value, &mut out);
    out
}

/// Canonical bytes of an object given as its map (no copy into a `Value`).
pub fn object_to_vec(map: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_object(map, &mut out);
    out
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_unstable();
    out.push(b'{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key).expect("strings serialize");
        out.push(b':');
        write(&map[key], out);
    }
    out.push(b'}');
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => write_object(map, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("scalars serialize"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_spacing_do_not_matter_values_do() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,2],"x":"s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "a": {"x": "s", "y": [1, 2]}, "b": 1 }"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[2,1]},"b":1}"#).unwrap();
        assert_eq!(to_vec(&a), br#"{"a":{"x":"s","y":[1,2]},"b":1}"#);
        assert_eq!(to_vec(&a), to_vec(&b));
        assert_ne!(to_vec(&a), to_vec(&c));
    }

    #[test]
    fn floats_survive_a_round_trip_unchanged() {
        let a = serde_json::json!({"score": 0.8125, "small": 1e-7, "big": 12345678.9});
        let text = serde_json::to_string(&a).unwrap();
        let b: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(to_vec(&a), to_vec(&b));
    }
}
