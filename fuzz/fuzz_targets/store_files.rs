//! `key_store.json` and `revoked_keys.json` as the store reads them: the
//! input is the first file, then a 0xFF byte (never in UTF-8 JSON), then
//! the second. What parses is then walked as `status` and `list` walk it,
//! and written back: the text must parse again, to the same store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_kms::util::user::UserId;

fuzz_target!(|data: &[u8]| {
    let (key_store, revoked_keys) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"[]"[..]),
    };
    let Ok((keys, revoked)) = secure_kms::store::parse(key_store, revoked_keys) else {
        return;
    };
    let now = secure_kms::util::time::now();
    for id in keys.user_ids() {
        let Ok(user) = UserId::new(id) else { continue };
        if let Ok(Some(record)) = keys.get(&user) {
            let _ = secure_kms::keys::keyring::status(record, &revoked, &user, now);
            let _ = secure_kms::revocation::is_key_revoked(&revoked, &user, &secure_kms::keys::keyring::versions_of(&keys, &user)?);
        }
    }
    let text = keys.to_json().expect("a store that parsed writes back");
    let (again, _) = secure_kms::store::parse(text.as_bytes(), revoked_keys)
        .expect("what the store writes parses");
    assert!(again == keys, "written back, the store reads differently");
});
