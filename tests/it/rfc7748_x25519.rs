//! Test vectors from RFC 7748 ("Elliptic Curves for Security"): section 5.2
//! (the X25519 function, two single vectors and the iterated one, to 1,000
//! iterations) and section 6.1 (the Alice and Bob Diffie-Hellman exchange),
//! through our wrapper.

use hex_literal::hex;
use secure_kms::formats::agreement::x25519;

struct TestVector {
    scalar: [u8; 32],
    u: [u8; 32],
    out: [u8; 32],
}

/// RFC 7748 section 5.2.
const VECTORS: &[TestVector] = &[
    TestVector {
        scalar: hex!("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        u: hex!("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
        out: hex!("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
    },
    TestVector {
        scalar: hex!("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
        // Its top bit is set: X25519 must ignore it.
        u: hex!("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"),
        out: hex!("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"),
    },
];

#[test]
fn section_5_2_single_vectors() {
    for (i, v) in VECTORS.iter().enumerate() {
        assert_eq!(x25519(v.scalar, v.u), v.out, "vector {}", i + 1);
    }
}

#[test]
fn section_5_2_iterated_to_1000() {
    // k = u = 9; then k, u = X25519(k, u), k.
    let mut k = [0u8; 32];
    k[0] = 9;
    let mut u = k;
    for i in 1..=1000 {
        let next = x25519(k, u);
        u = k;
        k = next;
        if i == 1 {
            assert_eq!(
                k,
                hex!("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")
            );
        }
    }
    assert_eq!(
        k,
        hex!("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")
    );
}

#[test]
fn section_6_1_alice_and_bob() {
    let alice = hex!("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let bob = hex!("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let mut base = [0u8; 32];
    base[0] = 9;
    let alice_public = x25519(alice, base);
    let bob_public = x25519(bob, base);
    assert_eq!(
        alice_public,
        hex!("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        bob_public,
        hex!("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    let shared = hex!("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(x25519(alice, bob_public), shared);
    assert_eq!(x25519(bob, alice_public), shared);
}
