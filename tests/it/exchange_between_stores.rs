//! `exchange offer`, `accept`, `finish` between two students' own stores:
//! each message carries its sender's certificate, which the other store
//! checks against the roots it trusts and the CRL it has imported, as a
//! TLS client checks a server, refusing with rustls's names.

use std::fs;
use std::path::Path;

use crate::util::{certify, code, in_store as run, stderr, stdout, succeeded as ok};

/// A teacher's CA; alice's and bob's stores, each trusting its root and
/// holding a certificate from it. The serials, alice's first.
fn class() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (file, pw) in [
        ("t.pw", "teacher"),
        ("alice.pw", "alice's"),
        ("bob.pw", "bob's"),
    ] {
        fs::write(d.join(file), format!("{pw} password\n")).unwrap();
    }
    ok(&run(
        d,
        "teacher",
        "t.pw",
        &["ca", "init", "--bits", "2048"],
    ));
    let mut serials = Vec::new();
    for user in ["alice", "bob"] {
        let (store, pw) = (format!("{user}-store"), format!("{user}.pw"));
        ok(&run(d, &store, &pw, &["keygen", user]));
        serials.push(certify(d, "teacher", "t.pw", user, &store, &pw));
    }
    (dir, serials)
}

fn offer(d: &Path) {
    ok(&run(
        d,
        "alice-store",
        "alice.pw",
        &[
            "exchange",
            "offer",
            "alice",
            "--to",
            "bob",
            "-o",
            "offer.json",
        ],
    ));
}

fn accept(d: &Path, offer: &str) -> std::process::Output {
    run(
        d,
        "bob-store",
        "bob.pw",
        &[
            "--json",
            "exchange",
            "accept",
            "bob",
            offer,
            "-o",
            "answer.json",
        ],
    )
}

#[test]
fn two_stores_with_a_common_root_derive_one_key() {
    let (dir, _) = class();
    let d = dir.path();
    offer(d);
    // The offer carries alice's certificate, under her signature.
    let sent: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(d.join("offer.json")).unwrap()).unwrap();
    assert!(
        sent["certificate"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(sent["recipient"]["key_version"], 0);
    let accepted: serde_json::Value = serde_json::from_str(&ok(&accept(d, "offer.json"))).unwrap();
    let finished: serde_json::Value = serde_json::from_str(&ok(&run(
        d,
        "alice-store",
        "alice.pw",
        &["--json", "exchange", "finish", "alice", "answer.json"],
    )))
    .unwrap();
    assert_eq!(
        accepted["session_key_fingerprint"],
        finished["session_key_fingerprint"]
    );
    assert_eq!(
        accepted["session_key_fingerprint"].as_str().unwrap().len(),
        64
    );
}

#[test]
fn a_certificate_the_receiver_cannot_believe_is_refused_with_rustls_names() {
    let (dir, serials) = class();
    let d = dir.path();
    offer(d);
    let text = fs::read_to_string(d.join("offer.json")).unwrap();
    let mut message: serde_json::Value = serde_json::from_str(&text).unwrap();

    // Claimed by someone else: the certificate names alice.
    message["sender"]["user"] = "carol".into();
    fs::write(
        d.join("carol.json"),
        serde_json::to_string(&message).unwrap(),
    )
    .unwrap();
    // A public value swapped in the middle: alice's key did not sign it.
    let mut swapped: serde_json::Value = serde_json::from_str(&text).unwrap();
    let public = swapped["public"].as_str().unwrap().to_owned();
    let flipped = if public.starts_with('A') {
        public.replacen('A', "B", 1)
    } else {
        public.replacen(&public[..1], "A", 1)
    };
    swapped["public"] = flipped.into();
    fs::write(
        d.join("swapped.json"),
        serde_json::to_string(&swapped).unwrap(),
    )
    .unwrap();
    // Neither is kept as seen: the genuine offer is still taken after.
    for (file, reason) in [
        (
            "carol.json",
            "(NotValidForName): it was issued to CN=alice, not to carol",
        ),
        (
            "swapped.json",
            "(BadSignature): the offer's signature does not verify with the key of alice's certificate",
        ),
    ] {
        let out = accept(d, file);
        assert_eq!(code(&out), Some(3), "{file}: {}", stdout(&out));
        assert!(stderr(&out).contains(reason), "{file}: {}", stderr(&out));
    }

    // A store that does not trust the teacher's root.
    fs::write(d.join("dan.pw"), "dan's password\n").unwrap();
    ok(&run(d, "dan-store", "dan.pw", &["keygen", "bob"]));
    let out = run(
        d,
        "dan-store",
        "dan.pw",
        &["exchange", "accept", "bob", "offer.json", "-o", "x.json"],
    );
    assert_eq!(code(&out), Some(3), "{}", stdout(&out));
    assert!(stderr(&out).contains("(UnknownIssuer)"), "{}", stderr(&out));

    // The teacher revokes alice's certificate; bob's store imports the CRL.
    ok(&run(
        d,
        "teacher",
        "t.pw",
        &["cert", "revoke", &serials[0], "--reason", "keyCompromise"],
    ));
    ok(&run(
        d,
        "bob-store",
        "bob.pw",
        &["crl", "import", "teacher/crl.pem"],
    ));
    let out = accept(d, "offer.json");
    assert_eq!(code(&out), Some(3), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("(Revoked): its root revoked it at"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn without_a_certificate_an_offer_goes_only_to_a_user_of_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("alice.pw"), "alice's password\n").unwrap();
    ok(&run(d, "alice-store", "alice.pw", &["keygen", "alice"]));
    let out = run(
        d,
        "alice-store",
        "alice.pw",
        &["exchange", "offer", "alice", "--to", "bob", "-o", "o.json"],
    );
    assert_eq!(code(&out), Some(1));
    assert!(stderr(&out).contains("no keys for bob"), "{}", stderr(&out));
}

/// A certificate that has expired is refused by the receiver (Expired),
/// even when the sender's store still carries it.
#[test]
fn an_expired_certificate_in_a_message_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let make = |args: &[&str]| crate::util::openssl_ok(d, args);
    fs::write(d.join("alice.pw"), "alice's password\n").unwrap();
    fs::write(d.join("bob.pw"), "bob's password\n").unwrap();
    crate::util::openssl_root(d, "root.key", "root.pem", "/CN=Class root");
    ok(&run(d, "alice-store", "alice.pw", &["keygen", "alice"]));
    ok(&run(d, "bob-store", "bob.pw", &["keygen", "bob"]));
    for (store, pw) in [("alice-store", "alice.pw"), ("bob-store", "bob.pw")] {
        ok(&run(d, store, pw, &["ca", "trust", "root.pem"]));
    }
    ok(&run(
        d,
        "alice-store",
        "alice.pw",
        &["cert", "request", "alice", "-o", "alice.csr"],
    ));
    // Valid for no time at all: expired a second later.
    make(&[
        "x509",
        "-req",
        "-in",
        "alice.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-out",
        "alice.crt",
        "-days",
        "0",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Put into alice's record by hand (`cert import` would refuse it).
    let path = d.join("alice-store/key_store.json");
    let mut keys: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    keys["alice"]["key_pair"]["certificate"] =
        fs::read_to_string(d.join("alice.crt")).unwrap().into();
    fs::write(&path, serde_json::to_string_pretty(&keys).unwrap()).unwrap();
    ok(&run(
        d,
        "alice-store",
        "alice.pw",
        &[
            "exchange",
            "offer",
            "alice",
            "--to",
            "bob",
            "-o",
            "offer.json",
        ],
    ));
    let out = run(
        d,
        "bob-store",
        "bob.pw",
        &["exchange", "accept", "bob", "offer.json", "-o", "a.json"],
    );
    assert_eq!(code(&out), Some(3), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("(Expired): it expired at"),
        "{}",
        stderr(&out)
    );
}

/// The CA's own store believes no certificate its CA revoked: a student's
/// offer to a user of the teacher's store is refused once the teacher has
/// revoked the student's certificate, with no CRL to import.
#[test]
fn the_cas_own_store_refuses_a_certificate_its_ca_revoked() {
    let (dir, serials) = class();
    let d = dir.path();
    fs::write(d.join("tom.pw"), "tom's password\n").unwrap();
    ok(&run(d, "teacher", "tom.pw", &["keygen", "tom"]));
    ok(&run(
        d,
        "alice-store",
        "alice.pw",
        &[
            "exchange",
            "offer",
            "alice",
            "--to",
            "tom",
            "-o",
            "to-tom.json",
        ],
    ));
    ok(&run(
        d,
        "teacher",
        "t.pw",
        &["cert", "revoke", &serials[0], "--reason", "keyCompromise"],
    ));
    let out = run(
        d,
        "teacher",
        "tom.pw",
        &["exchange", "accept", "tom", "to-tom.json", "-o", "a.json"],
    );
    assert_eq!(code(&out), Some(3), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("(Revoked): its root revoked it at"),
        "{}",
        stderr(&out)
    );
}

/// A name is one key: the CA does not certify a name of its own store's
/// users for someone else, nor a name it certified for another key until
/// that certificate is revoked.
#[test]
fn the_ca_certifies_a_name_for_one_key_at_a_time() {
    let (dir, serials) = class();
    let d = dir.path();
    fs::write(d.join("mal.pw"), "mallory's password\n").unwrap();
    fs::write(d.join("tom.pw"), "tom's password\n").unwrap();
    ok(&run(d, "teacher", "tom.pw", &["keygen", "tom"]));
    for name in ["tom", "alice"] {
        ok(&run(d, "mal-store", "mal.pw", &["keygen", name]));
        let csr = format!("mal-{name}.csr");
        ok(&run(
            d,
            "mal-store",
            "mal.pw",
            &["cert", "request", name, "-o", &csr],
        ));
        let out = run(d, "teacher", "t.pw", &["cert", "sign", &csr]);
        assert_eq!(code(&out), Some(1), "{name}: {}", stdout(&out));
        let why = if name == "tom" {
            "tom is a user of this store"
        } else {
            "this CA certified alice for another key already"
        };
        assert!(stderr(&out).contains(why), "{name}: {}", stderr(&out));
    }
    // Once alice's certificate is revoked, the name is free again.
    ok(&run(d, "teacher", "t.pw", &["cert", "revoke", &serials[0]]));
    ok(&run(
        d,
        "teacher",
        "t.pw",
        &["cert", "sign", "mal-alice.csr", "-o", "mal-alice.crt"],
    ));
}
