//! The encrypted-file format: the input as a whole file (magic line and
//! header), and the input as the chunk stream after a valid header, which
//! the decryption must refuse or open without panicking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use secure_kms::formats::envelope::{FileHeader, decrypt, encrypt, read_header};
use secure_kms::symmetric::{SymmetricKey, generate_symmetric_key};
use secure_kms::util::user::UserId;

fn sealed() -> &'static (SymmetricKey, FileHeader) {
    static SEALED: OnceLock<(SymmetricKey, FileHeader)> = OnceLock::new();
    SEALED.get_or_init(|| {
        let key = generate_symmetric_key().unwrap();
        let alice = UserId::new("alice").unwrap();
        let header = encrypt(&mut &b""[..], &mut Vec::new(), &alice, 1, &key).unwrap();
        (key, header)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    let _ = read_header(&mut input);
    let (key, header) = sealed();
    let mut out = Vec::new();
    let _ = decrypt(header, &mut &data[..], &mut out, key);
});
