//! Makes a store of N users quickly, for measuring how commands scale with
//! the store's size (docs/BENCHMARKS.md):
//!
//! ```sh
//! cargo run --release --example make_store -- DIR USERS PASSWORD_FILE
//! ```
//!
//! `alice` is a real user whose keys open with the password in
//! PASSWORD_FILE (600,000 PBKDF2 rounds, as the tool makes them). The
//! others, `user00001` and on, are copies of one real record made once,
//! under their own names: the files have the size and shape of a real store
//! of that many users, without an RSA key generation and a PBKDF2 run for
//! each. (A copy does not unlock under another name, since the user ID is
//! bound into each key; the measured commands use `alice`.) An audit log
//! records each user's creation, so `audit --verify` and its cross-check
//! see a consistent store.

use std::path::PathBuf;

use secure_kms::crypto::kdf::{DEFAULT_ITERATIONS, KdfParams, Password, PasswordKey};
use secure_kms::store::audit::{Event, EventKind};
use secure_kms::util::user::UserId;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, users, password_file] = args.as_slice() else {
        anyhow::bail!("usage: make_store DIR USERS PASSWORD_FILE");
    };
    let users: usize = users.parse()?;
    let password = std::fs::read_to_string(password_file)?;
    let password = Password::new(password.lines().next().unwrap_or_default().to_owned())?;
    let store = secure_kms::ca::open_store(PathBuf::from(dir));
    let alice = UserId::new("alice")?;
    let key = PasswordKey::derive(&password, &KdfParams::generate(DEFAULT_ITERATIONS)?);
    secure_kms::store::versions::add_version(
        &store,
        &alice,
        &key,
        3600,
        None,
        EventKind::Created,
        "make_store",
    )?;
    let record = store.load()?.0.get(&alice)?.cloned().expect("just made");
    store.update(|keys, _, events| {
        for i in 1..users {
            let id = UserId::new(&format!("user{i:05}"))?;
            keys.insert(&id, record.clone());
            events.push(
                Event::new(EventKind::Created, &id, "make_store").for_version(
                    1,
                    Some(&record.symmetric[0].fingerprint),
                    Some(&record.asymmetric[0].fingerprint),
                ),
            );
        }
        Ok(())
    })?;
    let bytes = std::fs::metadata(store.key_store_path())?.len();
    println!("{users} users in {dir}: key_store.json is {bytes} bytes");
    Ok(())
}
