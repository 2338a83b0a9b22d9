//! Loading and saving the store at 10, 1,000 and 10,000 users
//! (docs/BENCHMARKS.md): `cargo bench -p secure-kms-benches --bench store`. The stores are made as
//! `examples/make_store.rs` makes them: one real record, copied under
//! other names.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use secure_kms::crypto::kdf::{KdfParams, MIN_ITERATIONS, Password, PasswordKey};
use secure_kms::store::Store;
use secure_kms::util::user::UserId;

fn store_of(users: usize) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = secure_kms::ca::open_store(dir.path());
    let alice = UserId::new("alice").unwrap();
    let key = PasswordKey::derive(
        &Password::new("pw".to_owned()).unwrap(),
        &KdfParams::generate(MIN_ITERATIONS).unwrap(),
    );
    secure_kms::store::versions::add_version(
        &store,
        &alice,
        &key,
        3600,
        None,
        secure_kms::store::audit::EventKind::Created,
        "bench",
    )
    .unwrap();
    let record = store
        .load()
        .unwrap()
        .0
        .get(&alice)
        .unwrap()
        .cloned()
        .unwrap();
    store
        .update(|keys, _, _| {
            for i in 1..users {
                keys.insert(&UserId::new(&format!("user{i:05}"))?, record.clone());
            }
            Ok(())
        })
        .unwrap();
    (dir, store)
}

fn load_and_save(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for users in [10, 1_000, 10_000] {
        let (dir, _) = store_of(users);
        let alice = UserId::new("alice").unwrap();
        // Each iteration is a new Store, as each command is a new process:
        // a Store reuses its own last read of an unchanged file.
        // A load: both files read, and the one record a command needs.
        group.bench_function(BenchmarkId::new("load", users), |b| {
            b.iter(|| {
                let (keys, _) = secure_kms::ca::open_store(dir.path()).load().unwrap();
                keys.get(&alice).unwrap().is_some()
            })
        });
        let mut flip = 0u32;
        // A save: one user's record changes, the whole file is written
        // (through the journal, as every change is).
        group.bench_function(BenchmarkId::new("save", users), |b| {
            b.iter(|| {
                flip += 1;
                secure_kms::ca::open_store(dir.path())
                    .update(|keys, _, _| {
                        keys.entry(&alice)?.symmetric[0].expiry =
                            secure_kms::util::time::Timestamp::from_secs(4e9 + f64::from(flip % 2));
                        Ok(())
                    })
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, load_and_save);
criterion_main!(benches);
