use std::sync::Arc;

use uuid::Uuid;

use super::*;
use crate::inject::SeededSecrets;

fn key_id(s: &str) -> KeyId {
    s.parse().unwrap()
}

fn sealer(keys: Keys) -> Sealer {
    Sealer::new(Arc::new(keys), Arc::new(SeededSecrets::new(1)))
}

fn device(n: u128) -> SecretOf {
    SecretOf::Device(DeviceId::from_uuid(Uuid::from_u128(n)))
}

fn one_key() -> Keys {
    Keys::new(key_id("k1"), SealingKey::from_bytes([1; 32]))
}

fn secret() -> Secret {
    Secret::new("5e2d5b07c0ffee").unwrap()
}

#[test]
fn a_sealed_secret_opens_for_its_record_only() {
    let s = sealer(one_key());
    let sealed = s.seal(&secret(), device(1)).unwrap();
    assert!(sealed.is_sealed());
    assert_eq!(s.open(&sealed, device(1)).unwrap(), secret());
    assert_eq!(
        s.open(&sealed, device(2)).unwrap_err(),
        KeyError::DoesNotOpen {
            key: key_id("k1"),
            of: device(2)
        }
    );
    let group = SecretOf::Group(GroupId::from_uuid(Uuid::from_u128(1)));
    assert!(matches!(
        s.open(&sealed, group),
        Err(KeyError::DoesNotOpen { .. })
    ));
}

#[test]
fn every_flipped_bit_stops_it_opening() {
    let s = sealer(one_key());
    let sealed = s.seal(&secret(), device(1)).unwrap();
    let (key, nonce, body) = sealed.parts().unwrap();
    for i in 0..body.len() * 8 {
        let mut flipped = body.to_vec();
        flipped[i / 8] ^= 1 << (i % 8);
        let altered = SealedSecret::from_parts(key.clone(), *nonce, flipped.into());
        assert!(matches!(
            s.open(&altered, device(1)),
            Err(KeyError::DoesNotOpen { .. })
        ));
    }
    let mut other_nonce = *nonce;
    other_nonce[0] ^= 1;
    let altered = SealedSecret::from_parts(key.clone(), other_nonce, body.into());
    assert!(s.open(&altered, device(1)).is_err());
}

#[test]
fn the_ciphertext_holds_no_clear_text_and_each_seal_has_its_own_nonce() {
    let s = sealer(one_key());
    let a = s.seal(&secret(), device(1)).unwrap();
    let b = s.seal(&secret(), device(1)).unwrap();
    let (_, nonce_a, body_a) = a.parts().unwrap();
    let (_, nonce_b, body_b) = b.parts().unwrap();
    assert_ne!(nonce_a, nonce_b);
    assert_ne!(body_a, body_b);
    let clear = secret();
    assert!(
        !body_a
            .windows(4)
            .any(|w| clear.expose().as_bytes().windows(4).any(|c| c == w))
    );
    assert_eq!(format!("{a:?}"), "SealedSecret(key k1)");
}

#[test]
fn without_the_key_nothing_seals_or_opens() {
    let sealed = sealer(one_key()).seal(&secret(), device(1)).unwrap();
    let none = sealer(Keys::none());
    assert_eq!(
        none.seal(&secret(), device(1)).unwrap_err(),
        KeyError::NoKey
    );
    assert_eq!(none.current_key().unwrap_err(), KeyError::NoKey);
    assert_eq!(
        none.open(&sealed, device(1)).unwrap_err(),
        KeyError::UnknownKey {
            key: key_id("k1"),
            of: device(1)
        }
    );
    // A key of the same name with other bytes is a wrong key, not a garbled secret.
    let wrong = sealer(Keys::new(key_id("k1"), SealingKey::from_bytes([2; 32])));
    assert!(matches!(
        wrong.open(&sealed, device(1)),
        Err(KeyError::DoesNotOpen { .. })
    ));
    assert_eq!(KeyError::NoKey.code(), "key_unavailable");
}

#[test]
fn after_a_rotation_the_previous_key_opens_and_reseal_moves_to_the_current_one() {
    let old = sealer(one_key());
    let sealed = old.seal(&secret(), device(1)).unwrap();
    let rotated = sealer(
        Keys::new(key_id("k2"), SealingKey::from_bytes([2; 32]))
            .with_previous(key_id("k1"), SealingKey::from_bytes([1; 32])),
    );
    assert!(!rotated.is_current(&sealed));
    assert_eq!(rotated.open(&sealed, device(1)).unwrap(), secret());
    let resealed = rotated.reseal(&sealed, device(1)).unwrap().unwrap();
    assert_eq!(resealed.key_id(), Some(&key_id("k2")));
    assert!(rotated.reseal(&resealed, device(1)).unwrap().is_none());
    let only_new = sealer(Keys::new(key_id("k2"), SealingKey::from_bytes([2; 32])));
    assert_eq!(only_new.open(&resealed, device(1)).unwrap(), secret());
}

#[test]
fn a_secret_in_clear_is_not_used_until_a_reseal_seals_it() {
    let s = sealer(one_key());
    let clear = SealedSecret::clear(secret());
    assert!(!clear.is_sealed());
    assert_eq!(clear.key_id(), None);
    let refused = s.open(&clear, device(1)).unwrap_err();
    assert_eq!(refused, KeyError::InClear { of: device(1) });
    assert!(refused.to_string().contains("dps keys reseal"), "{refused}");
    let sealed = s.reseal(&clear, device(1)).unwrap().unwrap();
    assert!(sealed.is_sealed());
    assert_eq!(s.open(&sealed, device(1)).unwrap(), secret());
    assert_eq!(format!("{clear:?}"), "SealedSecret(in clear)");
}

#[test]
fn keys_read_from_hex_and_print_masked() {
    let key = SealingKey::from_bytes([0xab; 32]);
    assert_eq!(SealingKey::from_hex(&key.to_hex()).unwrap(), key);
    assert_eq!(
        SealingKey::from_hex(&key.to_hex().to_uppercase()).unwrap(),
        key
    );
    assert_eq!(SealingKey::from_hex("abc"), Err(InvalidKey));
    assert_eq!(SealingKey::from_hex(&"zz".repeat(32)), Err(InvalidKey));
    assert_eq!(format!("{key:?}"), "SealingKey(****)");
    let keys = one_key().with_previous(key_id("k0"), key);
    assert_eq!(
        format!("{keys:?}"),
        r#"Keys { current: Some("k1"), ids: ["k0", "k1"] }"#
    );
}
