//! Strict serde: a record that flattens other structs cannot use
//! `#[serde(deny_unknown_fields)]`, so [`NoUnknownFields`] does that job. A
//! field this version does not know is refused, never dropped on the next
//! write.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// A flattened catch-all that refuses any field the surrounding struct did
/// not take. Records that flatten other structs cannot use
/// `#[serde(deny_unknown_fields)]`; this does the same job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoUnknownFields;

impl Serialize for NoUnknownFields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for NoUnknownFields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = NoUnknownFields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("no further fields")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                match map.next_key::<String>()? {
                    None => Ok(NoUnknownFields),
                    Some(key) => Err(A::Error::custom(format!(
                        "unknown field `{key}`: this secure-kms does not know it, and will not rewrite the file and lose it"
                    ))),
                }
            }
        }
        d.deserialize_map(Visitor)
    }
}
