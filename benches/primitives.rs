//! Each primitive through secure-kms's own API (docs/BENCHMARKS.md):
//! `cargo bench -p secure-kms-benches --bench primitives`. `bench/compare.sh` reads the medians
//! criterion writes under `target/criterion/` and sets them beside OpenSSL
//! and Python's `cryptography`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use secure_kms::crypto::kdf::{DEFAULT_ITERATIONS, hkdf_sha256, pbkdf2_hmac_sha256};
use secure_kms::crypto::wrap::{open, seal};
use secure_kms::formats::agreement::{EphemeralKey, Group};
use secure_kms::pki::{generate_asymmetric_keys, sign_public_key, verify_signature};

fn aes_256_gcm(c: &mut Criterion) {
    let mut group = c.benchmark_group("aes_256_gcm");
    let (key, nonce) = ([7u8; 32], [9u8; 12]);
    for (name, len) in [("1KiB", 1 << 10), ("64KiB", 64 << 10), ("1MiB", 1 << 20)] {
        let plain = vec![0x5au8; len];
        let sealed = seal(&key, &nonce, b"aad", &plain);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("seal", name), &plain, |b, p| {
            b.iter(|| seal(&key, &nonce, b"aad", black_box(p)))
        });
        group.bench_with_input(BenchmarkId::new("open", name), &sealed, |b, s| {
            b.iter(|| open(&key, &nonce, b"aad", black_box(s)).unwrap())
        });
    }
    group.finish();
}

fn rsa_2048(c: &mut Criterion) {
    let mut group = c.benchmark_group("rsa_2048");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("keygen", |b| b.iter(|| generate_asymmetric_keys().unwrap()));
    let (private_key, public_key) = generate_asymmetric_keys().unwrap();
    let message = [0x42u8; 256];
    let signature = sign_public_key(&private_key, &message).unwrap();
    group.bench_function("pss_sign", |b| {
        b.iter(|| sign_public_key(&private_key, black_box(&message)).unwrap())
    });
    group.bench_function("pss_verify", |b| {
        b.iter(|| verify_signature(&public_key, black_box(&message), &signature).unwrap())
    });
    group.finish();
}

fn pbkdf2(c: &mut Criterion) {
    let mut group = c.benchmark_group("pbkdf2_hmac_sha256");
    group.sample_size(10);
    group.bench_function("600000", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            pbkdf2_hmac_sha256(b"password", &[1u8; 16], DEFAULT_ITERATIONS, &mut out);
            out
        })
    });
    // RustCrypto's generic loop, which ours replaced, side by side.
    group.bench_function("600000, pbkdf2 crate", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                b"password",
                &[1u8; 16],
                DEFAULT_ITERATIONS,
                &mut out,
            );
            out
        })
    });
    group.finish();
}

fn key_agreement(c: &mut Criterion) {
    let mut group = c.benchmark_group("key_agreement");
    for (name, g) in [("ffdhe2048", Group::Ffdhe2048), ("x25519", Group::X25519)] {
        let ours = EphemeralKey::generate(g).unwrap();
        let peer = EphemeralKey::generate(g).unwrap().public_bytes();
        // The derive a peer's value costs: its validation, then the shared
        // secret.
        group.bench_function(BenchmarkId::new("derive", name), |b| {
            b.iter(|| ours.agree(black_box(&peer)).unwrap())
        });
        group.bench_function(BenchmarkId::new("keygen", name), |b| {
            b.iter(|| EphemeralKey::generate(g).unwrap().public_bytes())
        });
    }
    group.bench_function("hkdf_sha256_32", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            hkdf_sha256(Some(&[3u8; 32]), black_box(&[5u8; 256]), b"info", &mut out).unwrap();
            out
        })
    });
    group.finish();
}

criterion_group!(benches, aes_256_gcm, rsa_2048, pbkdf2, key_agreement);
criterion_main!(benches);
