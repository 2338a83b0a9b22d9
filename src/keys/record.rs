//! One user's record in `key_store.json`: their two rings of key
//! versions, and the three formats it has been written in (format 3 is
//! written; formats 1 and 2 are read, see [`crate::keys::migrate`]). Every
//! check a record passes is made here, as it is read.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::Result;
use crate::formats::exchange_state::ExchangeState;
use crate::keys::migrate::{FlatSymmetric, RecordV1};
use crate::pki::{AsymmetricVersion, EncryptedPrivateKey};
use crate::symmetric::SymmetricVersion;
use crate::util::strict::NoUnknownFields;
use crate::util::time::Timestamp;

/// The record format this version writes: 3, the original's shape
/// (`symmetric`, `private`, `public`) for the newest keys, older versions
/// under `previous`. Format 1 (one key of each kind per user, see
/// [`crate::keys::migrate`]) and format 2 (the two rings as lists `symmetric`
/// and `asymmetric`) are still read, and written as format 3 by the next
/// change.
pub const FORMAT_VERSION: u32 = 3;

/// Format 2: the same rings as format 3, laid out as two lists.
const FORMAT_2: u32 = 2;

/// One user's keys: a ring of symmetric key versions and a ring of RSA key
/// versions, oldest first. The last version of each ring is the primary:
/// the one for new encryption and signing. Older versions stay, for
/// decrypting and verifying, until destroyed.
///
/// In the file (format 3), the primary versions take the original's
/// fields, `symmetric` (the wrapped `key` with its `expiry`), `private` and
/// `public`, with the pair's other fields in `key_pair`; the versions
/// before them are under `previous` (`symmetric` and `asymmetric` lists).
/// A primary version whose key was destroyed stays under `previous` too.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRecord {
    /// The record format, [`FORMAT_VERSION`].
    pub format: u32,
    /// The symmetric key versions, 1, 2, 3... in order.
    pub symmetric: Vec<SymmetricVersion>,
    /// The RSA key pair versions, 1, 2, 3... in order.
    pub asymmetric: Vec<AsymmetricVersion>,
    /// Key exchanges in progress between processes, and the messages taken
    /// (see [`crate::ops::protocol`]).
    pub exchanges: ExchangeState,
}

/// A primary RSA pair's fields other than `private` and `public`, which
/// sit beside it at the top of a format 3 record.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyPair {
    version: u32,
    #[serde(deserialize_with = "crate::util::time::deserialize")]
    created: crate::util::time::Timestamp,
    #[serde(deserialize_with = "crate::util::time::deserialize")]
    expiry: crate::util::time::Timestamp,
    fingerprint: crate::util::fingerprint::Fingerprint,
    #[serde(deserialize_with = "crate::crypto::wrap::known_binding")]
    binding: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<String>,
}

/// The versions before the primary ones, in a format 3 record, as read.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Previous {
    #[serde(default)]
    symmetric: Vec<SymmetricVersion>,
    #[serde(default)]
    asymmetric: Vec<AsymmetricVersion>,
}

/// [`Previous`], as written.
#[derive(Serialize)]
struct PreviousOut<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    symmetric: &'a [SymmetricVersion],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    asymmetric: &'a [AsymmetricVersion],
}

/// The newest symmetric key, in the original's shape (`key`, `expiry`),
/// as written: the sealed key first, then what a reader looks for next.
#[derive(Serialize)]
struct PrimarySymmetric<'a> {
    #[serde(serialize_with = "crate::util::b64::serialize")]
    key: &'a [u8],
    expiry: crate::util::time::Timestamp,
    version: u32,
    created: crate::util::time::Timestamp,
    fingerprint: &'a str,
    binding: u32,
    cipher: &'a crate::crypto::wrap::CipherName,
    #[serde(serialize_with = "crate::util::b64::serialize")]
    nonce: &'a [u8],
    #[serde(serialize_with = "crate::util::b64::serialize")]
    salt: &'a [u8],
    kdf: &'a crate::crypto::kdf::KdfName,
    iterations: u32,
}

impl Serialize for UserRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // The last version of each ring is at the top if it holds its key.
        let (primary_symmetric, older_symmetric) = match self.symmetric.split_last() {
            Some((last, older)) if last.wrapped.is_some() => (Some(last), older),
            _ => (None, self.symmetric.as_slice()),
        };
        let (primary_pair, older_pairs) = match self.asymmetric.split_last() {
            Some((last, older)) if last.private.is_some() => (Some(last), older),
            _ => (None, self.asymmetric.as_slice()),
        };
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("format", &FORMAT_VERSION)?;
        if let Some(v) = primary_symmetric {
            let wrapped = v.wrapped.as_ref().expect("checked above");
            map.serialize_entry(
                "symmetric",
                &PrimarySymmetric {
                    key: &wrapped.sealed.ciphertext,
                    expiry: v.expiry,
                    version: v.version,
                    created: v.created,
                    fingerprint: &v.fingerprint,
                    binding: v.binding,
                    cipher: &wrapped.sealed.cipher,
                    nonce: &wrapped.sealed.nonce,
                    salt: &wrapped.kdf.salt,
                    kdf: &wrapped.kdf.kdf,
                    iterations: wrapped.kdf.iterations,
                },
            )?;
        }
        if let Some(pair) = primary_pair {
            map.serialize_entry("private", pair.private.as_ref().expect("checked above"))?;
            map.serialize_entry("public", &pair.public)?;
            map.serialize_entry(
                "key_pair",
                &KeyPair {
                    version: pair.version,
                    created: pair.created,
                    expiry: pair.expiry,
                    fingerprint: pair.fingerprint.clone(),
                    binding: pair.binding,
                    certificate: pair.certificate.clone(),
                },
            )?;
        }
        if !older_symmetric.is_empty() || !older_pairs.is_empty() {
            map.serialize_entry(
                "previous",
                &PreviousOut {
                    symmetric: older_symmetric,
                    asymmetric: older_pairs,
                },
            )?;
        }
        if !self.exchanges.is_empty() {
            map.serialize_entry("exchanges", &self.exchanges)?;
        }
        map.end()
    }
}

impl UserRecord {
    /// Whether any version still holds a secret key, which only its owner's
    /// password unlocks. (A public key alone protects nothing.)
    pub fn has_keys(&self) -> bool {
        self.symmetric.iter().any(|v| v.wrapped.is_some())
            || self.asymmetric.iter().any(|v| v.private.is_some())
    }

    /// The newest version number in either ring (0 for none).
    pub fn latest_version(&self) -> u32 {
        let (sym, asym) = self.last_versions();
        sym.max(asym)
    }

    fn last_versions(&self) -> (u32, u32) {
        (
            self.symmetric.last().map_or(0, |v| v.version),
            self.asymmetric.last().map_or(0, |v| v.version),
        )
    }

    /// The number for the next symmetric key: the other ring's newest if
    /// it has no symmetric partner yet (the two keys of one rotation share
    /// a number), else one past the newest.
    pub(crate) fn next_symmetric_version(&self) -> u32 {
        let (sym, asym) = self.last_versions();
        next_version(sym, asym)
    }

    /// The number for the next RSA pair, as [`Self::next_symmetric_version`].
    pub(crate) fn next_asymmetric_version(&self) -> u32 {
        let (sym, asym) = self.last_versions();
        next_version(asym, sym)
    }
}

fn next_version(this_ring: u32, other_ring: u32) -> u32 {
    if other_ring > this_ring {
        other_ring
    } else {
        this_ring + 1
    }
}

impl Default for UserRecord {
    fn default() -> Self {
        UserRecord {
            format: FORMAT_VERSION,
            symmetric: Vec::new(),
            asymmetric: Vec::new(),
            exchanges: ExchangeState::default(),
        }
    }
}

/// Any format, as read, before checks and migration. (In a module of its
/// own so that serde's messages name it `UserRecord`, as users know it.)
mod as_read {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct UserRecord {
        #[serde(deserialize_with = "known_format")]
        pub format: u32,
        #[serde(default)]
        pub symmetric: Option<RawSymmetric>,
        #[serde(default)]
        pub asymmetric: Option<Vec<AsymmetricVersion>>,
        #[serde(default)]
        pub private: Option<EncryptedPrivateKey>,
        #[serde(
            default,
            deserialize_with = "crate::crypto::spki::valid_optional_public_pem"
        )]
        pub public: Option<String>,
        #[serde(default)]
        pub key_pair: Option<KeyPair>,
        #[serde(default)]
        pub previous: Option<Previous>,
        #[serde(default)]
        pub exchanges: Option<ExchangeState>,
    }
}

/// `symmetric` is one object in formats 1 and 3 (the original's shape) and
/// a list of versions in format 2.
enum RawSymmetric {
    Flat(FlatSymmetric),
    List(Vec<SymmetricVersion>),
}

impl<'de> Deserialize<'de> for RawSymmetric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawSymmetric;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("one key (or, in format 2, a list of key versions)")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<RawSymmetric, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(RawSymmetric::List)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawSymmetric, A::Error> {
                FlatSymmetric::deserialize(MapAccessDeserializer::new(map)).map(RawSymmetric::Flat)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl<'de> Deserialize<'de> for UserRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = as_read::UserRecord::deserialize(d)?;
        let format = raw.format;
        let field_of_other_format = |field: &str| {
            D::Error::custom(format!(
                "a format {format} record cannot hold `{field}` in that form (formats 1 and 3 have one `symmetric` object, `private` and `public`, and format 3 adds `key_pair` and `previous`; format 2 has lists `symmetric` and `asymmetric`)"
            ))
        };
        let (symmetric, asymmetric) = match format {
            1 => {
                if raw.asymmetric.is_some() {
                    return Err(field_of_other_format("asymmetric"));
                }
                for (field, present) in [
                    ("exchanges", raw.exchanges.is_some()),
                    ("key_pair", raw.key_pair.is_some()),
                    ("previous", raw.previous.is_some()),
                ] {
                    if present {
                        return Err(field_of_other_format(field));
                    }
                }
                let symmetric = match raw.symmetric {
                    Some(RawSymmetric::Flat(s)) if s.version.is_none() && s.binding.is_none() => {
                        Some(s)
                    }
                    Some(_) => return Err(field_of_other_format("symmetric")),
                    None => None,
                };
                crate::keys::migrate::migrate(RecordV1 {
                    symmetric,
                    private: raw.private,
                    public: raw.public,
                })
                .map_err(D::Error::custom)?
            }
            FORMAT_2 => {
                for (field, present) in [
                    ("private", raw.private.is_some()),
                    ("public", raw.public.is_some()),
                    ("key_pair", raw.key_pair.is_some()),
                    ("previous", raw.previous.is_some()),
                ] {
                    if present {
                        return Err(field_of_other_format(field));
                    }
                }
                let symmetric = match raw.symmetric {
                    Some(RawSymmetric::List(s)) => s,
                    Some(RawSymmetric::Flat(_)) => return Err(field_of_other_format("symmetric")),
                    None => Vec::new(),
                };
                (symmetric, raw.asymmetric.unwrap_or_default())
            }
            _ => {
                if raw.asymmetric.is_some() {
                    return Err(field_of_other_format("asymmetric"));
                }
                let previous = raw.previous.unwrap_or_default();
                let mut symmetric = previous.symmetric;
                match raw.symmetric {
                    Some(RawSymmetric::Flat(s)) => {
                        let (Some(version), Some(binding)) = (s.version, s.binding) else {
                            return Err(D::Error::custom(
                                "a format 3 `symmetric` key names its `version` and `binding`",
                            ));
                        };
                        symmetric.push(SymmetricVersion {
                            version,
                            created: s.created,
                            expiry: s.expiry,
                            fingerprint: s.fingerprint,
                            binding,
                            wrapped: Some(crate::crypto::wrap::WrappedKey {
                                kdf: s.kdf,
                                sealed: s.sealed,
                                unknown: NoUnknownFields,
                            }),
                            destroyed_at: None,
                        });
                    }
                    Some(RawSymmetric::List(_)) => {
                        return Err(field_of_other_format("symmetric"));
                    }
                    None => {}
                }
                let mut asymmetric = previous.asymmetric;
                match (raw.private, raw.public, raw.key_pair) {
                    (Some(private), Some(public), Some(pair)) => {
                        asymmetric.push(AsymmetricVersion {
                            version: pair.version,
                            created: pair.created,
                            expiry: pair.expiry,
                            fingerprint: pair.fingerprint,
                            binding: pair.binding,
                            public,
                            private: Some(private),
                            destroyed_at: None,
                            certificate: pair.certificate,
                        });
                    }
                    (None, None, None) => {}
                    _ => {
                        return Err(D::Error::custom(
                            "a format 3 record holds `private`, `public` and `key_pair` together, or none of them",
                        ));
                    }
                }
                (symmetric, asymmetric)
            }
        };
        // The key ID must be the public key's: revocations find keys by
        // it, so an edited ID could hide a revoked pair.
        if format != 1 {
            for a in &asymmetric {
                let actual = crate::crypto::spki::public_pem_fingerprint(&a.public)
                    .map_err(D::Error::custom)?;
                if let Some(pem) = &a.certificate {
                    crate::crypto::x509::check_certificate_of(pem, &a.fingerprint).map_err(
                        |e| D::Error::custom(format!("asymmetric key version {}: {e}", a.version)),
                    )?;
                }
                if actual != a.fingerprint {
                    return Err(D::Error::custom(format!(
                        "asymmetric key version {} has fingerprint {}, but its public key's SHA-256 is {actual}",
                        a.version, a.fingerprint
                    )));
                }
            }
        }
        check_ring(
            "symmetric",
            symmetric
                .iter()
                .map(|v| (v.version, v.created, v.expiry, v.binding)),
        )
        .map_err(D::Error::custom)?;
        check_ring(
            "asymmetric",
            asymmetric
                .iter()
                .map(|v| (v.version, v.created, v.expiry, v.binding)),
        )
        .map_err(D::Error::custom)?;
        Ok(UserRecord {
            format: FORMAT_VERSION,
            symmetric,
            asymmetric,
            exchanges: raw.exchanges.unwrap_or_default(),
        })
    }
}

/// Versions are numbered from 1 upwards in the order they were made: a
/// ring reordered by hand would change which key is primary. (A number
/// can be missing from one ring, in a store migrated from format 1.) No key
/// expires before it was made. Binding 1 (a key from format 1, with less
/// associated data) only ever holds version 1, so an old key cannot be
/// moved into a newer slot.
fn check_ring(
    name: &str,
    versions: impl Iterator<Item = (u32, Timestamp, Timestamp, u32)>,
) -> Result<(), String> {
    let (mut last_version, mut last_created) = (0, Timestamp::EPOCH);
    for (version, created, expiry, binding) in versions {
        if binding == 1 && version != 1 {
            return Err(format!(
                "{name} key version {version} has binding 1, which only a version 1 migrated from format 1 can have"
            ));
        }
        if expiry < created {
            return Err(format!(
                "{name} key version {version} expires before it was made"
            ));
        }
        if version <= last_version {
            return Err(format!(
                "the {name} key versions must be numbered from 1 upwards, in order; version {version} follows version {last_version}"
            ));
        }
        last_version = version;
        if created < last_created {
            return Err(format!(
                "{name} key version {version} was made before the version above it"
            ));
        }
        last_created = created;
    }
    Ok(())
}

/// Serde check: formats 1 (before key versions), 2 and [`FORMAT_VERSION`]
/// are read; anything else is a newer secure-kms's file, left alone.
fn known_format<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if (1..=FORMAT_VERSION).contains(&v) {
        Ok(v)
    } else {
        Err(D::Error::custom(format!(
            "format {v} is not understood by this secure-kms, which reads formats 1 to {FORMAT_VERSION}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's `store_symmetric_key` then `store_asymmetric_keys` (the
    /// original's two calls) give one version number to the pair they make.
    /// (`store::versions::add_version`, used by rotation, numbers both itself.)
    #[test]
    fn the_next_version_pairs_the_two_rings() {
        assert_eq!(next_version(0, 0), 1);
        // The symmetric key of a rotation is stored first...
        assert_eq!(next_version(3, 3), 4);
        // ...and the RSA pair takes the same number.
        assert_eq!(next_version(3, 4), 4);
        // A ring that lost step (a format 1 record without an RSA pair).
        assert_eq!(next_version(0, 1), 1);
        assert_eq!(next_version(1, 0), 2);
    }
}
