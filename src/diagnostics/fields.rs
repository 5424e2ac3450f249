//! The top-level keys of a config type, read from its `Deserialize` impl (so
//! `docs/configuration.md` can be checked against the types and cannot drift from them).

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

/// The keys `T` accepts at its top level, as serde names them (after renames); empty for
/// types that are not plain structs.
pub fn field_names<T: DeserializeOwned>() -> Vec<&'static str> {
    let mut captured = None;
    let _ = T::deserialize(Capture(&mut captured));
    captured.map(<[_]>::to_vec).unwrap_or_default()
}

/// A deserializer that records the field list serde asks a struct for, then stops.
struct Capture<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for Capture<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("fields captured"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Example {
        plain: u32,
        #[serde(rename = "renamed_key")]
        other: String,
    }

    #[test]
    fn the_keys_of_a_struct_are_read_from_its_deserialize_impl() {
        assert_eq!(field_names::<Example>(), ["plain", "renamed_key"]);
        assert!(field_names::<u32>().is_empty());
    }
}
