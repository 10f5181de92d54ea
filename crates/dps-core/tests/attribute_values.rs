//! `AttributeValues` behaves like a map from attribute identifier to value.

use std::collections::BTreeMap;

use dps_core::{AttributeId, attribute::AttributeValue, attribute::AttributeValues};
use proptest::prelude::*;

fn id(s: &str) -> AttributeId {
    s.parse().unwrap()
}

fn int(n: i64) -> AttributeValue {
    AttributeValue::Integer(n)
}

#[test]
fn values_are_kept_in_identifier_order_and_replaced_by_identifier() {
    let mut values = AttributeValues::new();
    assert!(values.is_empty());
    assert_eq!(values.insert(id("room"), int(1)), None);
    assert_eq!(values.insert(id("floor"), int(2)), None);
    assert_eq!(values.insert(id("zone"), int(3)), None);
    assert_eq!(values.insert(id("floor"), int(4)), Some(int(2)));
    assert_eq!(values.len(), 3);
    let ids: Vec<&str> = values.keys().map(AttributeId::as_str).collect();
    assert_eq!(ids, ["floor", "room", "zone"]);
    let all: Vec<i64> = values
        .values()
        .map(|v| match v {
            AttributeValue::Integer(n) => *n,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(all, [4, 1, 3]);

    assert_eq!(values.get("floor"), Some(&int(4)));
    assert_eq!(values.get(&id("room")), Some(&int(1)));
    assert_eq!(values["zone"], int(3));
    assert_eq!(values.get("attic"), None);
    assert!(values.contains_key("room"));
    assert!(!values.contains_key("attic"));
    if let Some(v) = values.get_mut("room") {
        *v = int(10);
    }
    assert_eq!(values.get("room"), Some(&int(10)));
    assert_eq!(values.remove("room"), Some(int(10)));
    assert_eq!(values.remove("room"), None);
    assert_eq!(values.len(), 2);
    assert_eq!(
        format!("{values:?}"),
        format!("{:?}", {
            let mut m = BTreeMap::new();
            m.insert(id("floor"), int(4));
            m.insert(id("zone"), int(3));
            m
        })
    );
}

#[test]
fn a_later_value_for_the_same_identifier_wins_when_collecting() {
    let values: AttributeValues = [
        (id("b"), int(1)),
        (id("a"), int(2)),
        (id("b"), int(3)),
        (id("a"), int(4)),
        (id("c"), int(5)),
    ]
    .into();
    let pairs: Vec<(&str, &AttributeValue)> = values.iter().map(|(k, v)| (k.as_str(), v)).collect();
    assert_eq!(pairs, [("a", &int(4)), ("b", &int(3)), ("c", &int(5))]);

    let mut extended = values.clone();
    extended.extend([(id("c"), int(6)), (id("d"), int(7))]);
    assert_eq!(extended.get("c"), Some(&int(6)));
    assert_eq!(extended.len(), 4);
    let owned: Vec<(AttributeId, AttributeValue)> = extended.into_iter().collect();
    assert_eq!(owned.first(), Some(&(id("a"), int(4))));
    assert_eq!(owned.last(), Some(&(id("d"), int(7))));
}

#[test]
fn values_serialise_as_a_map_of_identifier_to_value() {
    let values: AttributeValues = [
        (id("room"), AttributeValue::String("4.12".into())),
        (id("floor"), int(3)),
    ]
    .into();
    let json = serde_json::to_string(&values).unwrap();
    assert_eq!(
        json,
        r#"{"floor":{"type":"integer","value":3},"room":{"type":"string","value":"4.12"}}"#
    );
    // The same text a map of the same entries gives, so stored devices read back alike.
    let map: BTreeMap<AttributeId, AttributeValue> = values.clone().into_iter().collect();
    assert_eq!(json, serde_json::to_string(&map).unwrap());
    let back: AttributeValues = serde_json::from_str(&json).unwrap();
    assert_eq!(back, values);

    // Keys in any order; a repeated key keeps its last value, as a map does.
    let repeated: AttributeValues = serde_json::from_str(
        r#"{"room":{"type":"integer","value":1},"floor":{"type":"integer","value":2},"room":{"type":"integer","value":3}}"#,
    )
    .unwrap();
    assert_eq!(
        repeated.keys().map(AttributeId::as_str).collect::<Vec<_>>(),
        ["floor", "room"]
    );
    assert_eq!(repeated.get("room"), Some(&int(3)));

    assert!(serde_json::from_str::<AttributeValues>(r#"[1, 2]"#).is_err());
    assert!(
        serde_json::from_str::<AttributeValues>(r#"{"bad id!":{"type":"integer","value":1}}"#)
            .is_err()
    );
    assert_eq!(
        serde_json::from_str::<AttributeValues>("{}").unwrap(),
        AttributeValues::new()
    );
}

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, i64),
    Remove(usize),
}

const IDS: [&str; 6] = ["a", "b", "floor", "room", "z", "zone"];

proptest! {
    #[test]
    fn operations_agree_with_a_btree_map(
        ops in proptest::collection::vec(
            prop_oneof![
                (0..IDS.len(), any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
                (0..IDS.len()).prop_map(Op::Remove),
            ],
            0..40,
        )
    ) {
        let mut ours = AttributeValues::new();
        let mut model = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    prop_assert_eq!(ours.insert(id(IDS[k]), int(v)), model.insert(id(IDS[k]), int(v)));
                }
                Op::Remove(k) => {
                    prop_assert_eq!(ours.remove(IDS[k]), model.remove(IDS[k]));
                }
            }
            prop_assert_eq!(ours.len(), model.len());
            prop_assert!(ours.iter().eq(model.iter()));
            for k in IDS {
                prop_assert_eq!(ours.get(k), model.get(k));
            }
        }
        let collected: AttributeValues = model.clone().into_iter().collect();
        prop_assert_eq!(collected, ours);
    }
}
