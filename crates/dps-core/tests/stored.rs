//! Every record shape of the golden scenario survives the stored form unchanged.

use dps_core::stored::{self, DeviceColumns, GroupColumns, StoredDevice, StoredEvent};
use dps_core::{EventCursor, NewEvent};
use dps_store_memory::InMemoryStore;
use dps_testkit::golden;

#[tokio::test]
async fn every_record_shape_round_trips_through_the_stored_form() {
    let snapshot = golden::expected(InMemoryStore::new()).await;
    golden::assert_covers_every_shape(&snapshot);
    for g in &snapshot.groups {
        let row = GroupColumns::of(g).unwrap();
        assert_eq!(&stored::decode_group(&row.data).unwrap(), g, "{}", g.id());
        assert!(row.data.starts_with(r#"{"format":2,"#), "{}", row.data);
        assert!(g.secret().is_sealed(), "{}", row.data);
    }
    for d in &snapshot.devices {
        let row = DeviceColumns::of(d).unwrap();
        assert_eq!(
            &stored::decode_device(&row.data).unwrap(),
            d,
            "{}",
            d.serial()
        );
        let again = StoredDevice::from_json(&row.data).unwrap();
        assert_eq!(again.format_version(), stored::FORMAT_VERSION);
        assert_eq!(again.to_json().unwrap(), row.data);
    }
    for e in &snapshot.events {
        let new = NewEvent {
            at: e.at,
            actor: e.actor.clone(),
            group_id: e.group_id,
            device_id: e.device_id,
            serial: e.serial.clone(),
            kind: e.kind.clone(),
        };
        let data = StoredEvent::from(&new).to_json().unwrap();
        let cursor = EventCursor::new(e.cursor.get());
        assert_eq!(&stored::decode_event(cursor, &data).unwrap(), e, "{data}");
    }
}
