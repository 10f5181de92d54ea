//! Sealed secrets in a store: stored sealed, read back sealed and opening to what was sealed,
//! and resealed in place by a key rotation without a new version or event.

use std::sync::Arc;

use dps_core::inject::SeededSecrets;
use dps_core::seal::{KeyProvider, Keys, SealingKey, SecretOf};
use dps_core::{Change, Config, Injected, Provisioner, Store};

use super::{all_events, insert_group, must_commit};
use crate::fixtures::{Fixtures, credentials, group_secret, test_keys};
use crate::{EPOCH, FakeEnvironment};

/// Group and device secrets go in sealed and come out sealed, each opening to its text with
/// the key that sealed it; [`Provisioner::reseal`] with a new key seals them again in place,
/// keeping every record's version and adding no event.
///
/// # Panics
///
/// When the store breaks this.
pub async fn sealed_secrets<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("sealed");
    insert_group(&*store, &group).await;
    let d = fx.device(&group, "SN-1");
    let (pending, allocated) = fx.allocated(&group, &d);
    must_commit(&*store, vec![Change::InsertDevice(d.clone())], "insert").await;
    let steps = vec![
        Change::UpdateDevice {
            expected: d.version(),
            device: pending.clone(),
        },
        Change::UpdateDevice {
            expected: pending.version(),
            device: allocated.clone(),
        },
    ];
    must_commit(&*store, steps, "allocate").await;
    let got_group = store
        .group(group.id())
        .await
        .unwrap_or_else(|e| panic!("read the group back: {e}"));
    let got_group = got_group.unwrap_or_else(|| panic!("the group is missing"));
    assert!(
        got_group.secret().is_sealed(),
        "the group secret is stored sealed"
    );
    assert_eq!(group_secret(&got_group), group_secret(&group));
    let got = store
        .device(d.id())
        .await
        .unwrap_or_else(|e| panic!("read the device back: {e}"));
    let got = got.unwrap_or_else(|| panic!("the device is missing"));
    let sealed = &got
        .state()
        .allocated()
        .map(|a| a.credentials().device_secret.clone());
    assert!(
        sealed.as_ref().is_some_and(|s| s.is_sealed()),
        "the device secret is sealed"
    );
    assert_eq!(credentials(&got), credentials(&allocated));

    reseal_in_place(store, &group, &allocated).await;
}

/// A reseal with a new key seals `group`'s and `allocated`'s secrets again in place.
async fn reseal_in_place<S: Store + ?Sized>(
    store: Arc<S>,
    group: &dps_core::RegistrationGroup,
    allocated: &dps_core::Device,
) {
    let d = allocated;
    let events = all_events(&*store).await.len();
    let new = "rotated".parse().unwrap_or_else(|e| panic!("key ID: {e}"));
    let test_key = test_keys()
        .current()
        .unwrap_or_else(|| panic!("the test key"));
    let keys =
        Keys::new(new, SealingKey::from_bytes([0x77; 32])).with_previous(test_key.0, test_key.1);
    let injected = Injected {
        clock: Arc::new(dps_core::inject::ManualClock::new(EPOCH)),
        ids: Arc::new(dps_core::inject::SequentialIds::new(5_000_000)),
        secrets: Arc::new(SeededSecrets::new(3)),
    };
    let env = FakeEnvironment::new();
    let dps = Provisioner::with_parts(Arc::clone(&store), env, injected, Config::default())
        .with_keys(keys);
    let report = dps
        .reseal(|_| {})
        .await
        .unwrap_or_else(|e| panic!("reseal: {e}"));
    assert_eq!((report.group_secrets, report.device_secrets), (1, 1));
    let after = store
        .device(d.id())
        .await
        .unwrap_or_else(|e| panic!("read the resealed device back: {e}"));
    let after = after.unwrap_or_else(|| panic!("the device is missing"));
    assert_eq!(
        after.version(),
        allocated.version(),
        "a reseal keeps the version"
    );
    let opened = dps
        .credentials(&after)
        .unwrap_or_else(|e| panic!("open: {e}"));
    assert_eq!(opened, credentials(allocated));
    let key = after
        .state()
        .allocated()
        .map(|a| a.credentials().device_secret.key_id().cloned());
    assert_eq!(
        key.flatten().map(|k| k.to_string()).as_deref(),
        Some("rotated")
    );
    let g = store
        .group(group.id())
        .await
        .unwrap_or_else(|e| panic!("read the resealed group back: {e}"));
    let g = g.unwrap_or_else(|| panic!("the group is missing"));
    assert_eq!(g.version(), group.version());
    let secret = dps.sealer().open(g.secret(), SecretOf::Group(g.id()));
    assert_eq!(secret.ok(), Some(group_secret(group)));
    assert_eq!(
        all_events(&*store).await.len(),
        events,
        "a reseal records no event"
    );
}
