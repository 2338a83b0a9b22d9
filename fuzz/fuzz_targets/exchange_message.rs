//! `exchange offer | accept | finish` messages: whatever parses must write
//! back and parse again to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_kms::ops::protocol::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = Message::from_json(text) {
        let again = Message::from_json(&message.to_json()).expect("our own output parses");
        assert_eq!(again, message);
    }
});
