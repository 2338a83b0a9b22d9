//! RSA-PSS interop with the openssl CLI: a signature OpenSSL made (kept in
//! tests/data, see its README) verifies with our code, and signatures cross
//! between the two in both directions.

use std::fs;

use crate::util::openssl;
use secure_kms::crypto::spki::{public_key_from_pem, public_key_pem};
use secure_kms::pki::{generate_asymmetric_keys, sign_public_key, verify_signature};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn fixture(name: &str) -> Vec<u8> {
    fs::read(format!("{DATA}/{name}")).unwrap()
}

#[test]
fn a_signature_made_by_openssl_verifies() {
    let public_key =
        public_key_from_pem(&String::from_utf8(fixture("openssl_pss_public.pem")).unwrap())
            .unwrap();
    let message = fixture("openssl_pss_message.txt");
    let signature = fixture("openssl_pss_signature.bin");
    verify_signature(&public_key, &message, &signature).unwrap();

    let mut tampered = signature.clone();
    tampered[17] ^= 0x04;
    assert!(verify_signature(&public_key, &message, &tampered).is_err());
    let mut other_message = message.clone();
    other_message[0] ^= 0x20;
    assert!(verify_signature(&public_key, &other_message, &signature).is_err());
}

#[test]
fn signatures_cross_between_openssl_and_secure_kms() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("message"), b"ffdhe2048 public value").unwrap();
    let pss = [
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
    ];

    // OpenSSL signs, we verify.
    let gen_key = [
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "key.pem",
    ];
    assert!(openssl(&gen_key, d).status.success());
    assert!(
        openssl(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"], d)
            .status
            .success()
    );
    let sign = [
        &["dgst", "-sha256"][..],
        &pss,
        &["-sign", "key.pem", "-out", "sig", "message"],
    ]
    .concat();
    assert!(openssl(&sign, d).status.success());
    let their_public =
        public_key_from_pem(&fs::read_to_string(d.join("pub.pem")).unwrap()).unwrap();
    verify_signature(
        &their_public,
        b"ffdhe2048 public value",
        &fs::read(d.join("sig")).unwrap(),
    )
    .unwrap();

    // We sign, OpenSSL verifies.
    let (private_key, public_key) = generate_asymmetric_keys().unwrap();
    fs::write(d.join("ours.pem"), public_key_pem(&public_key).unwrap()).unwrap();
    fs::write(
        d.join("our.sig"),
        sign_public_key(&private_key, b"ffdhe2048 public value").unwrap(),
    )
    .unwrap();
    let verify = [
        &["dgst", "-sha256"][..],
        &pss,
        &["-verify", "ours.pem", "-signature", "our.sig", "message"],
    ]
    .concat();
    let out = openssl(&verify, d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Verified OK");

    // And OpenSSL refuses our signature over other data.
    fs::write(d.join("message"), b"another value").unwrap();
    assert!(!openssl(&verify, d).status.success());
}

/// The binary's file commands against the openssl CLI, in both directions.
mod commands {
    use crate::util::{Class, code, openssl, stderr};
    use std::fs;

    const PSS: [&str; 4] = [
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
    ];

    fn openssl_ok(args: &[&str], dir: &std::path::Path) -> String {
        let out = openssl(args, dir);
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn openssl_verifies_what_sign_makes_and_opens_what_export_writes() {
        let class = Class::new();
        let dir = class.dir.path();
        class.ok(&["keygen", "alice"]);
        fs::write(dir.join("doc"), b"a file signed by secure-kms\n").unwrap();
        class.ok(&["sign", "alice", "doc", "-o", "doc.sig"]);
        class.ok(&["export", "alice", "--public", "-o", "alice.pem"]);
        let mut args = vec!["dgst", "-sha256"];
        args.extend(PSS);
        args.extend(["-verify", "alice.pem", "-signature", "doc.sig", "doc"]);
        assert_eq!(openssl_ok(&args, dir).trim(), "Verified OK");

        fs::write(dir.join("epw"), "export password\n").unwrap();
        class.ok(&[
            "export",
            "alice",
            "--private",
            "--export-password-file",
            "epw",
            "-o",
            "alice.key",
        ]);
        // PBES2 with PBKDF2-HMAC-SHA256 at 600,000 and AES-256-CBC.
        let asn1 = openssl_ok(&["asn1parse", "-in", "alice.key"], dir);
        for part in [
            "PBES2",
            "PBKDF2",
            "hmacWithSHA256",
            "aes-256-cbc",
            ":0927C0",
        ] {
            assert!(asn1.contains(part), "{part} missing:\n{asn1}");
        }
        // OpenSSL opens it with the export password, and it is alice's key.
        let from_private = openssl_ok(
            &["pkey", "-in", "alice.key", "-passin", "file:epw", "-pubout"],
            dir,
        );
        assert_eq!(
            from_private,
            fs::read_to_string(dir.join("alice.pem")).unwrap()
        );
        fs::write(dir.join("bad"), "not it\n").unwrap();
        let wrong = openssl(&["pkey", "-in", "alice.key", "-passin", "file:bad"], dir);
        assert!(!wrong.status.success());
    }

    #[test]
    fn keys_and_signatures_from_openssl_are_taken() {
        let class = Class::new();
        let dir = class.dir.path();
        fs::write(dir.join("kpw"), "key password\n").unwrap();
        // genpkey's own encrypted output, and a key encrypted afterwards
        // with pkcs8 -topk8 -v2 aes-256-cbc, at both ends of the size range.
        openssl_ok(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:3072",
                "-aes-256-cbc",
                "-pass",
                "file:kpw",
                "-out",
                "k3072.pem",
            ],
            dir,
        );
        openssl_ok(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "plain.pem",
            ],
            dir,
        );
        openssl_ok(
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-in",
                "plain.pem",
                "-passout",
                "file:kpw",
                "-out",
                "k2048.pem",
            ],
            dir,
        );
        let import = |file: &str| {
            class.run(&[
                "import",
                "alice",
                "--private",
                file,
                "--import-password-file",
                "kpw",
            ])
        };
        // A new user: version 1 with openssl's 3072-bit key.
        let first = import("k3072.pem");
        assert_eq!(code(&first), Some(0), "{}", stderr(&first));
        let second = import("k2048.pem");
        assert_eq!(code(&second), Some(0), "{}", stderr(&second));
        assert_eq!(class.states("alice"), ["deactivated", "active"]);
        // Our public key for version 2 is openssl's.
        class.ok(&["export", "alice", "--public", "-o", "ours.pem"]);
        let theirs = openssl_ok(&["pkey", "-in", "plain.pem", "-pubout"], dir);
        assert_eq!(fs::read_to_string(dir.join("ours.pem")).unwrap(), theirs);

        // openssl signs with each key; verify names the version.
        fs::write(dir.join("doc"), b"signed by openssl\n").unwrap();
        for (key, pass, version) in [("k3072.pem", "file:kpw", 1), ("plain.pem", "", 2)] {
            let mut args = vec!["dgst", "-sha256"];
            args.extend(PSS);
            args.extend(["-sign", key]);
            if !pass.is_empty() {
                args.extend(["-passin", pass]);
            }
            args.extend(["-out", "doc.sig", "doc"]);
            openssl_ok(&args, dir);
            let json = class.json(&["verify", "alice", "doc", "doc.sig"]);
            assert_eq!(json["version"], version, "{key}");
        }
        // The imported key signs for us too, and openssl checks it.
        class.ok(&["sign", "alice", "doc", "-o", "ours.sig"]);
        let mut args = vec!["dgst", "-sha256"];
        args.extend(PSS);
        args.extend(["-verify", "ours.pem", "-signature", "ours.sig", "doc"]);
        assert_eq!(openssl_ok(&args, dir).trim(), "Verified OK");

        // Too small a key is refused.
        openssl_ok(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:1024",
                "-aes-256-cbc",
                "-pass",
                "file:kpw",
                "-out",
                "k1024.pem",
            ],
            dir,
        );
        let small = import("k1024.pem");
        assert_eq!(code(&small), Some(1));
        assert!(
            stderr(&small).contains("1024 bits; 2048 to 4096"),
            "{}",
            stderr(&small)
        );
        // And a wrong password for the key file says so.
        fs::write(dir.join("kpw"), "not the key password\n").unwrap();
        let wrong = import("k2048.pem");
        assert_eq!(code(&wrong), Some(1));
        assert!(stderr(&wrong).contains("the password does not open it"));
    }
}

/// Key agreement against `openssl pkeyutl -derive`, both ways, in both groups.
mod derive {
    use crate::util::openssl;
    use secure_kms::formats::agreement::{EphemeralKey, Group};
    use secure_kms::formats::dhkeys::{public_from_spki_pem, public_to_spki_pem};
    use std::fs;

    fn derive(dir: &std::path::Path, key: &str, peer: &str) -> Vec<u8> {
        let out = openssl(
            &["pkeyutl", "-derive", "-inkey", key, "-peerkey", peer],
            dir,
        );
        assert!(
            out.status.success(),
            "openssl pkeyutl -derive: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// OpenSSL drops a DH secret's leading zero bytes; ours keeps the
    /// group's length (RFC 7919 section 5.1): compare the numbers.
    fn number(bytes: &[u8]) -> &[u8] {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        &bytes[start..]
    }

    #[test]
    fn openssl_and_secure_kms_derive_the_same_secret() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (group, algorithm) in [
            (Group::X25519, vec!["-algorithm", "X25519"]),
            (
                Group::Ffdhe2048,
                vec!["-algorithm", "DH", "-pkeyopt", "group:ffdhe2048"],
            ),
        ] {
            // Theirs: made by openssl genpkey.
            let mut args = vec!["genpkey"];
            args.extend(&algorithm);
            args.extend(["-out", "theirs.pem"]);
            assert!(openssl(&args, d).status.success());
            assert!(
                openssl(
                    &[
                        "pkey",
                        "-in",
                        "theirs.pem",
                        "-pubout",
                        "-out",
                        "theirs_pub.pem"
                    ],
                    d
                )
                .status
                .success()
            );
            // Ours: exported in OpenSSL's formats.
            let ours = EphemeralKey::generate(group).unwrap();
            fs::write(d.join("ours.pem"), ours.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
            fs::write(
                d.join("ours_pub.pem"),
                public_to_spki_pem(group, &ours.public_bytes()).unwrap(),
            )
            .unwrap();

            // openssl with our private key and their public key...
            let by_openssl = derive(d, "ours.pem", "theirs_pub.pem");
            // ...equals our code with the same keys.
            let (their_group, their_public) =
                public_from_spki_pem(&fs::read_to_string(d.join("theirs_pub.pem")).unwrap())
                    .unwrap();
            assert_eq!(their_group, group);
            let by_us = ours.agree(&their_public).unwrap();
            assert_eq!(number(&by_openssl), number(&by_us), "{group}");

            // The reverse: openssl's private key read by us, with our public
            // key, equals openssl deriving with its key and ours.
            let theirs =
                EphemeralKey::from_pkcs8_pem(&fs::read_to_string(d.join("theirs.pem")).unwrap())
                    .unwrap();
            let reverse_us = theirs.agree(&ours.public_bytes()).unwrap();
            let reverse_openssl = derive(d, "theirs.pem", "ours_pub.pem");
            assert_eq!(number(&reverse_openssl), number(&reverse_us), "{group}");
            assert_eq!(number(&reverse_us), number(&by_us), "{group}");
        }
    }
}
