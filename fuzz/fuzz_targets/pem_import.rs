//! Every PEM and DER reader of untrusted keys: `import`'s encrypted PKCS#8
//! check (structure and key-derivation cost, before any derivation), the
//! X25519 and ffdhe2048 keys of `dhkeys`, and DH PARAMETERS.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_kms::formats::agreement::EphemeralKey;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = secure_kms::ops::transfer::check_encrypted_private_key(&text);
    let _ = secure_kms::formats::dhkeys::public_from_spki_pem(&text);
    let _ = EphemeralKey::from_pkcs8_pem(&text);
    let _ = secure_kms::formats::dhkeys::params_from_pem(&text);
});
