//! Serde helpers: byte strings as standard base64 in the JSON files, checked
//! for length when read so that a bad salt or nonce is reported where it is.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

/// Encodes bytes as standard base64 (what Python's `base64.b64encode` gives).
pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Serialises any byte string as base64.
pub(crate) fn serialize<S: Serializer>(bytes: impl AsRef<[u8]>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&encode(bytes.as_ref()))
}

/// A variable-length byte string.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    STANDARD
        .decode(text.as_bytes())
        .map_err(|e| D::Error::custom(format!("invalid base64: {e}")))
}

/// A byte string of exactly `N` bytes.
pub(crate) mod fixed {
    use super::*;

    pub(crate) use super::serialize;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let bytes = super::deserialize(d)?;
        <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
            D::Error::custom(format!(
                "expected {N} bytes of base64, found {}",
                bytes.len()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Fields {
        #[serde(with = "super")]
        any: Vec<u8>,
        #[serde(with = "super::fixed")]
        twelve: [u8; 12],
    }

    proptest! {
        /// Byte fields write as base64 and read back equal; a fixed-size
        /// field of any other length is refused, naming both lengths.
        #[test]
        fn byte_fields_round_trip(any in proptest::collection::vec(any::<u8>(), 0..100), twelve in any::<[u8; 12]>(), other in 0usize..40) {
            let fields = Fields { any, twelve };
            let json = serde_json::to_string(&fields).unwrap();
            prop_assert_eq!(serde_json::from_str::<Fields>(&json).unwrap(), fields);
            if other != 12 {
                let wrong = format!(r#"{{"any": "", "twelve": "{}"}}"#, super::encode(&vec![0u8; other]));
                let err = serde_json::from_str::<Fields>(&wrong).unwrap_err().to_string();
                let expected = format!("expected 12 bytes of base64, found {other}");
                prop_assert!(err.contains(&expected), "{}", err);
            }
        }
    }
}
