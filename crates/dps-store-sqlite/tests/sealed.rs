//! A sealed secret is bound to its record in the file: copied to another row, or with a byte
//! changed, it does not open, and the refusal is a typed error.

use dps_core::seal::{KeyError, SecretOf};
use dps_core::{Change, Changeset, DeviceId, Error, Provisioner, Store};
use dps_store_sqlite::{SqliteOptions, SqliteStore};
use dps_testkit::{FakeEnvironment, Fixtures, test_keys};

/// The `data` of a device row (the table keys devices by the 16 bytes of their UUID).
fn data(conn: &rusqlite::Connection, id: DeviceId) -> String {
    let key = id.as_uuid().as_bytes().to_vec();
    conn.query_row("SELECT data FROM dps_devices WHERE id = ?1", [key], |r| {
        r.get(0)
    })
    .expect("the device row")
}

fn set_data(conn: &rusqlite::Connection, id: DeviceId, data: &str) {
    let key = id.as_uuid().as_bytes().to_vec();
    let n = conn
        .execute(
            "UPDATE dps_devices SET data = ?1 WHERE id = ?2",
            (data, key),
        )
        .expect("update");
    assert_eq!(n, 1);
}

/// The sealed device secret object of a device row's JSON.
fn secret_of(data: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(data).expect("JSON");
    v["state"]["credentials"]["device_secret"].clone()
}

#[tokio::test]
async fn a_secret_moved_to_another_row_or_altered_does_not_open() {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("dps.sqlite");
    let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open");
    let fx = Fixtures::new();
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    let mut allocated = Vec::new();
    for serial in ["SN-1", "SN-2"] {
        let d = fx.device(&group, serial);
        let (_, a) = fx.allocated(&group, &d);
        cs.push(Change::InsertDevice(a.clone()));
        allocated.push(a);
    }
    store.commit(cs).await.expect("commit");
    let dps = Provisioner::new(store.clone(), FakeEnvironment::new()).with_keys(test_keys());
    let (a, b) = (&allocated[0], &allocated[1]);

    let conn = rusqlite::Connection::open(&path).expect("a second connection");
    let (a_id, b_id) = (a.id(), b.id());
    let a_data = data(&conn, a_id);
    let b_data = data(&conn, b_id);
    let a_secret = secret_of(&a_data).to_string();
    let b_secret = secret_of(&b_data).to_string();
    assert!(a_secret.contains(r#""key":"test-1""#), "{a_secret}");

    // B's row with A's sealed secret.
    set_data(&conn, b_id, &b_data.replacen(&b_secret, &a_secret, 1));
    let moved = store
        .device(b.id())
        .await
        .expect("read")
        .expect("the device");
    let e = dps.credentials(&moved).unwrap_err();
    assert_eq!(e.code(), "key_unavailable");
    assert!(
        matches!(
            e,
            Error::KeyUnavailable(KeyError::DoesNotOpen { of: SecretOf::Device(id), .. }) if id == b.id()
        ),
        "{e:?}"
    );

    // B's own sealed secret with one character of its ciphertext changed.
    let v: serde_json::Value = serde_json::from_str(&b_secret).expect("JSON");
    let sealed = v["sealed"].as_str().expect("the ciphertext");
    let first = if sealed.starts_with('A') { "B" } else { "A" };
    let altered = b_secret.replacen(sealed, &format!("{first}{}", &sealed[1..]), 1);
    set_data(&conn, b_id, &b_data.replacen(&b_secret, &altered, 1));
    let flipped = store
        .device(b.id())
        .await
        .expect("read")
        .expect("the device");
    let e = dps.credentials(&flipped).unwrap_err();
    assert!(
        matches!(e, Error::KeyUnavailable(KeyError::DoesNotOpen { .. })),
        "{e:?}"
    );

    // Put back, it opens again; and A was never touched.
    set_data(&conn, b_id, &b_data);
    let back = store
        .device(b.id())
        .await
        .expect("read")
        .expect("the device");
    assert_eq!(
        dps.credentials(&back).expect("opens"),
        dps_testkit::credentials(b)
    );
    assert_eq!(
        dps.credentials(a).expect("opens"),
        dps_testkit::credentials(a)
    );
}
