//! Property tests (proptest) of the encode/decode pairs, through the public
//! API: whatever is encoded decodes to the same value, and (for the
//! authenticated formats) any changed byte is refused. The crate-private
//! pairs (base64 fields, audit lines) have theirs in `src/util/b64.rs` and
//! `src/store/audit.rs`.

use std::sync::OnceLock;

use proptest::prelude::*;
use secure_kms::crypto::wrap::{NONCE_LEN, open, seal};
use secure_kms::formats::agreement::{Group, Party};
use secure_kms::formats::dhkeys::{public_from_spki_pem, public_to_spki_pem};
use secure_kms::formats::envelope::{decrypt, encrypt, read_header};
use secure_kms::keys::{KeyStore, UserRecord};
use secure_kms::ops::protocol::{Kind, Message, PROTOCOL};
use secure_kms::revocation::{RevocationList, RevocationReason, revoke_key};
use secure_kms::symmetric::{SymmetricKey, generate_symmetric_key};
use secure_kms::util::time::Timestamp;
use secure_kms::util::user::UserId;

fn user_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._@-]{1,64}"
}

fn key() -> &'static SymmetricKey {
    static KEY: OnceLock<SymmetricKey> = OnceLock::new();
    KEY.get_or_init(|| generate_symmetric_key().unwrap())
}

/// One real user record (RSA-2048 and a wrapped AES key, at the fewest
/// PBKDF2 iterations), made once: records are copied under other names.
fn record() -> &'static UserRecord {
    static RECORD: OnceLock<UserRecord> = OnceLock::new();
    RECORD.get_or_init(|| {
        let mut keys = KeyStore::default();
        let alice = UserId::new("alice").unwrap();
        let pk = secure_kms::crypto::kdf::PasswordKey::derive(
            &secure_kms::crypto::kdf::Password::new("pw".to_owned()).unwrap(),
            &secure_kms::crypto::kdf::KdfParams::generate(secure_kms::crypto::kdf::MIN_ITERATIONS)
                .unwrap(),
        );
        let (private_key, public_key) = secure_kms::pki::generate_asymmetric_keys().unwrap();
        keys.add_symmetric(&alice, key(), 60, &pk).unwrap();
        keys.add_asymmetric(&alice, &private_key, &public_key, 60, &pk)
            .unwrap();
        keys.get(&alice).unwrap().unwrap().clone()
    })
}

/// The edges the property test may miss: passwords of 0, 63, 64 and 65
/// bytes (HMAC hashes a key longer than its 64-byte block), outputs of 0,
/// 1, 32, 33 and 64 bytes, one and two iterations.
#[test]
fn pbkdf2_edges_match_rustcrypto() {
    for password_len in [0, 63, 64, 65] {
        let password: Vec<u8> = (0..password_len).map(|i| i as u8).collect();
        for len in [0, 1, 32, 33, 64] {
            for iterations in [1, 2, 3] {
                let mut ours = vec![0u8; len];
                secure_kms::crypto::kdf::pbkdf2_hmac_sha256(
                    &password, b"salt", iterations, &mut ours,
                );
                let mut theirs = vec![0u8; len];
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(&password, b"salt", iterations, &mut theirs);
                assert_eq!(
                    ours, theirs,
                    "password {password_len}, {len} bytes, {iterations}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Our PBKDF2 loop (two compressions per iteration on precomputed
    /// HMAC states) gives what RustCrypto's generic `pbkdf2` crate gives:
    /// passwords around and over the 64-byte HMAC block, any salt, outputs
    /// of one to five blocks, not all multiples of 32 bytes.
    #[test]
    fn pbkdf2_matches_rustcrypto(
        password in proptest::collection::vec(any::<u8>(), 0..150),
        salt in proptest::collection::vec(any::<u8>(), 0..80),
        iterations in 1u32..40,
        len in 1usize..130,
    ) {
        let mut ours = vec![0u8; len];
        secure_kms::crypto::kdf::pbkdf2_hmac_sha256(&password, &salt, iterations, &mut ours);
        let mut theirs = vec![0u8; len];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(&password, &salt, iterations, &mut theirs);
        prop_assert_eq!(ours, theirs);
    }

    /// User IDs: every string of the allowed characters is taken as is;
    /// any other character is refused.
    #[test]
    fn user_ids(id in user_id(), bad in "[^A-Za-z0-9._@-]", at in 0usize..64) {
        let parsed = UserId::new(&id).unwrap();
        prop_assert_eq!(parsed.as_str(), id.as_str());
        let mut broken = id.clone();
        broken.insert_str(at.min(broken.len()), &bad);
        // Surrounding blanks are trimmed, so a blank at either end is not an error.
        if broken.trim() == id {
            return Ok(());
        }
        prop_assert!(UserId::new(&broken).is_err(), "{:?}", broken);
    }

    /// AES-256-GCM through `wrap`: seal then open gives the plaintext back;
    /// a flipped bit anywhere in the sealed bytes or the associated data is
    /// refused.
    #[test]
    fn seal_and_open(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; NONCE_LEN]>(),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        plain in proptest::collection::vec(any::<u8>(), 0..512),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let sealed = seal(&key, &nonce, &aad, &plain);
        prop_assert_eq!(&open(&key, &nonce, &aad, &sealed).unwrap()[..], &plain[..]);
        let mut bad = sealed.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 1 << bit;
        prop_assert!(open(&key, &nonce, &aad, &bad).is_err());
        let mut bad_aad = aad.clone();
        bad_aad.push(0);
        prop_assert!(open(&key, &nonce, &bad_aad, &sealed).is_err());
    }

    /// Encrypted files: any content (empty, under, at and over the 64 KiB
    /// chunk) decrypts to itself; the header writes back byte for byte;
    /// any changed byte of the file is refused.
    #[test]
    fn encrypted_files(
        len in prop_oneof![0usize..300, 65_530usize..65_545, 131_060usize..131_080],
        fill in any::<u8>(),
        user in user_id(),
        version in 1u32..1000,
        flip in any::<prop::sample::Index>(),
    ) {
        let plain: Vec<u8> = (0..len).map(|i| fill ^ (i as u8)).collect();
        let user = UserId::new(&user).unwrap();
        let mut file = Vec::new();
        let header = encrypt(&mut &plain[..], &mut file, &user, version, key()).unwrap();
        let mut input = &file[..];
        let read = read_header(&mut input).unwrap();
        prop_assert_eq!(read.to_bytes(), header.to_bytes());
        prop_assert_eq!(read.key_version, version);
        let mut back = Vec::new();
        decrypt(&read, &mut input, &mut back, key()).unwrap();
        prop_assert_eq!(&back, &plain);
        let mut bad = file.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 0x01;
        let mut input = &bad[..];
        let refused = match read_header(&mut input) {
            Err(_) => true,
            Ok(h) => decrypt(&h, &mut input, &mut Vec::new(), key()).is_err(),
        };
        prop_assert!(refused, "a change at byte {} of {} was not noticed", i, bad.len());
    }

    /// Exchange messages: any message writes to JSON and reads back equal.
    #[test]
    fn exchange_messages(
        answer in any::<bool>(),
        x25519 in any::<bool>(),
        sender in user_id(),
        recipient in user_id(),
        versions in any::<(u32, u32)>(),
        public in proptest::collection::vec(any::<u8>(), 0..300),
        nonce in "[0-9a-f]{32}",
        created in "20[0-9]{2}-(0[1-9]|1[0-2])-[0-2][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z",
        offer_nonce in proptest::option::of("[0-9a-f]{32}"),
        signature in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let message = Message {
            protocol: PROTOCOL.to_owned(),
            kind: if answer { Kind::Answer } else { Kind::Offer },
            group: if x25519 { Group::X25519 } else { Group::Ffdhe2048 },
            sender: Party { user: sender, key_version: versions.0 },
            recipient: Party { user: recipient, key_version: versions.1 },
            public,
            nonce,
            created,
            offer_nonce,
            certificate: None,
            signature,
        };
        prop_assert_eq!(Message::from_json(&message.to_json()).unwrap(), message);
    }

    /// Public keys as SubjectPublicKeyInfo PEM, in both groups: what is
    /// written reads back as the same group and bytes.
    #[test]
    fn public_key_pems(x in any::<[u8; 32]>(), y in proptest::collection::vec(any::<u8>(), 256)) {
        let pem = public_to_spki_pem(Group::X25519, &x).unwrap();
        prop_assert_eq!(public_from_spki_pem(&pem).unwrap(), (Group::X25519, x.to_vec()));
        let pem = public_to_spki_pem(Group::Ffdhe2048, &y).unwrap();
        prop_assert_eq!(public_from_spki_pem(&pem).unwrap(), (Group::Ffdhe2048, y.clone()));
    }

    /// Private keys as PKCS#8 PEM, in both groups: any key made writes out
    /// and reads back as the same key (the same public value).
    #[test]
    fn private_key_pems(x25519 in any::<bool>()) {
        use secure_kms::formats::agreement::EphemeralKey;
        let group = if x25519 { Group::X25519 } else { Group::Ffdhe2048 };
        let key = EphemeralKey::generate(group).unwrap();
        let back = EphemeralKey::from_pkcs8_pem(&key.to_pkcs8_pem().unwrap()).unwrap();
        prop_assert_eq!(back.group(), group);
        prop_assert_eq!(back.public_bytes(), key.public_bytes());
    }

    /// The two store files: any set of users, with revocations of any
    /// reason, time and version, writes out and parses back equal.
    #[test]
    fn store_files(
        users in proptest::collection::btree_set(user_id(), 0..6),
        revocations in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..6, any::<bool>(), 0.0f64..4e9), 0..6),
    ) {
        let mut keys = KeyStore::default();
        let ids: Vec<UserId> = users.iter().map(|u| UserId::new(u).unwrap()).collect();
        for id in &ids {
            keys.insert(id, record().clone());
        }
        let reasons = [
            RevocationReason::Unspecified,
            RevocationReason::KeyCompromise,
            RevocationReason::AffiliationChanged,
            RevocationReason::Superseded,
            RevocationReason::CessationOfOperation,
            RevocationReason::PrivilegeWithdrawn,
        ];
        let mut revoked = RevocationList::default();
        if !ids.is_empty() {
            for (who, reason, one_version, at) in revocations {
                let id = &ids[who.index(ids.len())];
                let version = one_version.then_some(1);
                revoke_key(&mut revoked, id, &secure_kms::keys::keyring::versions_of(&keys, id)?, reasons[reason], version, Timestamp::from_secs(at)).unwrap();
            }
        }
        let revoked_json = serde_json::to_string_pretty(&revoked).unwrap();
        let text = keys.to_json().unwrap();
        // The store's own writer lays the file out as serde_json's pretty
        // printer lays out the map of records.
        let map: std::collections::BTreeMap<&str, UserRecord> = ids
            .iter()
            .map(|id| (id.as_str(), record().clone()))
            .collect();
        prop_assert_eq!(&text, &format!("{}\n", serde_json::to_string_pretty(&map).unwrap()));
        let (keys_back, revoked_back) =
            secure_kms::store::parse(text.as_bytes(), revoked_json.as_bytes()).unwrap();
        // Read and written again, untouched, it is the same bytes.
        prop_assert_eq!(&keys_back.to_json().unwrap(), &text);
        prop_assert_eq!(keys_back, keys);
        prop_assert_eq!(revoked_back, revoked);
    }
}
