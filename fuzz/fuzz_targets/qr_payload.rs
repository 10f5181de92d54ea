//! Fuzzes the QR label payload parser: it never panics, it accepts only canonical texts, and
//! every payload it accepts survives a round trip and refuses a changed check character.
//!
//! `crates/dps-qr/tests/payload.rs` checks the same properties on stable, over generated
//! texts and over every file of `fuzz/corpus/qr_payload`. Run it with nightly:
//! `cargo +nightly fuzz run qr_payload fuzz/corpus/qr_payload`.
#![no_main]

use dps_qr::Payload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Payload::parse(text);
    match parsed {
        Ok(payload) => {
            // Only the canonical text of a payload parses, and it parses back to itself.
            let rendered = payload.render();
            assert_eq!(rendered, text, "an accepted text is canonical");
            assert_eq!(Payload::parse(&rendered).as_ref(), Ok(&payload));
            // Any other check character is refused.
            let body = &rendered[..rendered.len() - 1];
            for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:*+$%".chars() {
                let other = format!("{body}{c}");
                if other != rendered {
                    assert!(Payload::parse(&other).is_err(), "{other} parses");
                }
            }
        }
        Err(e) => {
            // Every refusal has a stable code and a message.
            assert!(!e.code().is_empty());
            assert!(!e.to_string().is_empty());
        }
    }
    // A payload built from whatever parts the input spells always round-trips.
    if let Some((serial, model)) = text.split_once('\u{0}')
        && let (Ok(serial), Ok(model)) = (serial.parse(), model.parse())
    {
        let group = dps_core::GroupId::from_uuid(dps_core::Uuid::from_u128(
            data.iter()
                .fold(0u128, |acc, b| acc.rotate_left(8) ^ u128::from(*b)),
        ));
        let payload = Payload::new(group, serial, model);
        assert_eq!(Payload::parse(&payload.render()), Ok(payload));
    }
});
