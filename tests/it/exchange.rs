//! `secure-kms exchange`: an authenticated key exchange between two users
//! in one process, in both groups, with its explanation and its refusals.

use std::fs;

use crate::util::{Class, code, stderr, stdout};

/// A store with alice (password file `pw`) and bob (password file `bob`).
fn two_users() -> Class {
    let class = Class::new();
    fs::write(class.dir.path().join("bob"), "bob's password\n").unwrap();
    class.ok(&["keygen", "alice"]);
    let bob = class.run_with("bob", &["keygen", "bob"]);
    assert_eq!(code(&bob), Some(0), "{}", stderr(&bob));
    class
}

fn exchange(class: &Class, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["exchange", "alice", "bob", "--peer-password-file", "bob"];
    args.extend_from_slice(extra);
    class.run(&args)
}

#[test]
fn both_groups_give_both_sides_one_key() {
    let class = two_users();
    let mut seen = Vec::new();
    for group in ["ffdhe2048", "x25519"] {
        let json = class.json(&[
            "exchange",
            "alice",
            "bob",
            "--peer-password-file",
            "bob",
            "--group",
            group,
        ]);
        assert_eq!(json["group"], group);
        let (a, b) = (
            json["initiator_key_fingerprint"].as_str().unwrap(),
            json["responder_key_fingerprint"].as_str().unwrap(),
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(json["initiator"]["user"], "alice");
        assert_eq!(json["responder"]["key_version"], 1);
        seen.push(a.to_owned());
    }
    // Each exchange has its own key.
    let again = exchange(&class, &["--group", "x25519"]);
    assert_eq!(code(&again), Some(0));
    assert!(!stdout(&again).contains(&seen[1][..16]));
    assert_ne!(seen[0], seen[1]);
}

#[test]
fn explain_shows_every_value_and_why() {
    let class = two_users();
    let out = exchange(&class, &["--explain"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for item in [
        "  p: ",
        "  g: 2",
        "  private values: 225 bits",
        "  alice's public value: ",
        "  bob's public value: ",
        "  signatures: alice (version 1) and bob (version 1): both verified",
        "  validation: 2 <= y <= p - 2 and y^q = 1 (mod p)",
        "  shared secret: SHA-256 ",
        "  HKDF salt: ",
        "  HKDF info: secure-kms v1 session key ffdhe2048",
        "  session key: SHA-256 ",
    ] {
        assert!(text.contains(item), "{item:?} missing:\n{text}");
    }
    // The session key shown in the explanation is the one both sides got.
    let shown = text
        .lines()
        .find_map(|l| l.strip_prefix("  session key: SHA-256 "))
        .unwrap();
    assert!(
        text.contains(&format!("alice derived key (hashed): {shown}"))
            && text.contains(&format!("bob derived key (hashed): {shown}")),
        "{text}"
    );
    let x = exchange(&class, &["--explain", "--group", "x25519"]);
    assert!(stdout(&x).contains("  private values: 255 bits"));
    assert!(stdout(&x).contains("not all zeros"));
}

#[test]
fn a_side_whose_key_may_not_sign_stops_the_exchange() {
    let class = two_users();
    class.run_with("bob", &["revoke", "bob", "--reason", "keyCompromise"]);
    let out = exchange(&class, &[]);
    assert_eq!(code(&out), Some(3));
    assert!(
        stderr(&out).contains("the keys of bob were revoked at")
            && stderr(&out).contains("(reason: keyCompromise)"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("derived key"));

    let class = Class::new();
    fs::write(class.dir.path().join("bob"), "bob's password\n").unwrap();
    class.ok(&["keygen", "alice", "--expiry", "1"]);
    class.run_with("bob", &["keygen", "bob"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = exchange(&class, &[]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the keys of alice expired at")
            && stderr(&out).contains("a key exchange"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn wrong_passwords_and_a_user_with_itself_are_refused() {
    let class = two_users();
    let out = class.run(&["exchange", "alice", "bob", "--peer-password-file", "wrong"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("wrong password for bob"),
        "{}",
        stderr(&out)
    );
    let same = class.run(&["exchange", "alice", "alice", "--peer-password-file", "pw"]);
    assert_eq!(code(&same), Some(1));
    assert!(stderr(&same).contains("two different users"));
}

#[test]
fn a_group_from_a_file_is_checked_then_used() {
    let class = two_users();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dh");
    let good = format!("{data}/pass_openssl_dhparam_2048.pem");
    let json = class.json(&[
        "exchange",
        "alice",
        "bob",
        "--peer-password-file",
        "bob",
        "--params",
        &good,
    ]);
    assert_eq!(
        json["initiator_key_fingerprint"],
        json["responder_key_fingerprint"]
    );
    // The key is bound to the group: its p and g are hashed into the
    // transcript.
    assert_eq!(json["params_sha256"].as_str().unwrap().len(), 64);
    let explained = exchange(&class, &["--params", &good, "--explain"]);
    assert!(
        stdout(&explained).contains("a prime loaded from a file and checked"),
        "{}",
        stdout(&explained)
    );
    // An unsafe group is refused before anything else.
    let bad = exchange(
        &class,
        &["--params", &format!("{data}/fail_p_prime_but_not_safe.pem")],
    );
    assert_eq!(code(&bad), Some(1));
    assert!(
        stderr(&bad).contains("not a safe prime"),
        "{}",
        stderr(&bad)
    );
    // A larger group (RFC 7919's ffdhe3072, as a file) works the same way.
    let larger = format!("{data}/pass_rfc7919_ffdhe3072.pem");
    let explained = exchange(&class, &["--params", &larger, "--explain"]);
    assert_eq!(code(&explained), Some(0), "{}", stderr(&explained));
    assert!(
        stdout(&explained).contains("a 3072-bit safe prime"),
        "{}",
        stdout(&explained)
    );
    let both = exchange(&class, &["--params", &good, "--group", "x25519"]);
    assert_eq!(code(&both), Some(2));
}

/// The original's step 4 as the session runs it: each Diffie-Hellman
/// public value signed with the sender's RSA key (`pki.rs`), so that a
/// value swapped in the middle is caught (`exchange.rs`).
#[test]
fn a_man_in_the_middle_swapping_the_dh_value_is_caught() {
    use secure_kms::exchange::{generate_dh_parameters, generate_dh_private_key};
    use secure_kms::pki::{generate_asymmetric_keys, sign_public_key, verify_signature};
    let (alice_private, alice_public) = generate_asymmetric_keys().unwrap();
    let (alice_private, alice_public) = (&alice_private, &alice_public);
    let params = generate_dh_parameters();
    let alice_dh = generate_dh_private_key(&params)
        .unwrap()
        .public_key()
        .to_bytes();
    let mallory_dh = generate_dh_private_key(&params)
        .unwrap()
        .public_key()
        .to_bytes();
    let alice_sig = sign_public_key(alice_private, &alice_dh).unwrap();
    verify_signature(alice_public, &alice_dh, &alice_sig).unwrap();
    // Mallory forwards her own value with alice's signature...
    assert!(verify_signature(alice_public, &mallory_dh, &alice_sig).is_err());
    // ...or signs it with her own RSA key: neither verifies as alice's.
    let (mallory_rsa, _) = generate_asymmetric_keys().unwrap();
    let mallory_sig = sign_public_key(&mallory_rsa, &mallory_dh).unwrap();
    assert!(verify_signature(alice_public, &mallory_dh, &mallory_sig).is_err());
}

/// The value after `prefix` on the line that starts with it.
fn after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in\n{text}"))
}

#[test]
fn the_toy_exchange_shows_numbers_that_check_by_hand_then_ffdhe2048() {
    use secure_kms::exchange::toy::pow_mod;
    let dir = tempfile::tempdir().unwrap();
    // No store, no user, no password: arithmetic only, and nothing written.
    let out = crate::util::kms_command(dir.path())
        .args(["exchange", "--toy"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    let text = stdout(&out);
    assert!(
        text.starts_with("A toy Diffie-Hellman exchange. INSECURE"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    let number = |prefix: &str| -> u64 { after(&text, prefix).parse().unwrap() };
    let (a, b) = (number("  a: "), number("  b: "));
    assert!((2..=21).contains(&a) && (2..=21).contains(&b), "{text}");
    let public_a = pow_mod(5, a, 23);
    let public_b = pow_mod(5, b, 23);
    let z = pow_mod(public_b, a, 23);
    assert_eq!(
        after(&text, "  A: "),
        format!("g^a mod p = 5^{a} mod 23 = {public_a}")
    );
    assert_eq!(
        after(&text, "  B: "),
        format!("g^b mod p = 5^{b} mod 23 = {public_b}")
    );
    assert_eq!(
        after(&text, "  Z at A: "),
        format!("B^a mod p = {public_b}^{a} mod 23 = {z}")
    );
    assert_eq!(
        after(&text, "  Z at B: "),
        format!("A^b mod p = {public_a}^{b} mod 23 = {z}")
    );
    // Then the same steps, full size: both sides' hashes agree, and no
    // 2048-bit number or secret is printed whole.
    let real = text
        .split_once("The same steps in RFC 7919 ffdhe2048")
        .unwrap()
        .1;
    let hash = |prefix: &str| after(real, prefix).rsplit(' ').next().unwrap().to_owned();
    assert_eq!(hash("  Z at A: "), hash("  Z at B: "));
    assert_eq!(hash("  key at A: "), hash("  key at B: "));
    assert!(
        real.contains("g^a mod p = ") && real.contains("(2048 bits)"),
        "{real}"
    );
    let longest_hex = real
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap();
    assert!(longest_hex <= 16, "{real}");

    // --json gives the toy numbers for a script to check.
    let json: serde_json::Value = serde_json::from_slice(
        &crate::util::kms_command(dir.path())
            .args(["exchange", "--toy", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let n = |k: &str| json[k].as_u64().unwrap();
    assert_eq!(n("public_a"), pow_mod(5, n("a"), 23));
    assert_eq!(n("secret_a"), pow_mod(n("public_b"), n("a"), 23));
    assert_eq!(n("secret_a"), n("secret_b"));
}

#[test]
fn the_toy_exchange_takes_no_users() {
    let class = two_users();
    let out = class.run(&["exchange", "--toy", "alice", "bob"]);
    assert_eq!(code(&out), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    // Nor a password: an option that would do nothing is refused.
    let out = class.run(&["exchange", "--toy"]);
    assert_eq!(code(&out), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("exchange --toy needs no password"),
        "{}",
        stderr(&out)
    );
}
