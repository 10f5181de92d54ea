//! Contract 5: keyset paging, filters and the pending listing.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use dps_core::{Change, DeviceFilter, DeviceQuery, SerialNumber, Store, state::AllocationStatus};

use super::{commit, must_commit};
use crate::fixtures::{EPOCH, Fixtures};

/// Contract 5: keyset paging over 10 500 devices visits each exactly once, in serial order,
/// while another task inserts devices into the same group.
pub async fn keyset_paging_under_inserts<S: Store + ?Sized>(store: Arc<S>) {
    const N: usize = 10_500;
    let fx = Fixtures::new();
    let group = fx.group("g");
    must_commit(
        &*store,
        vec![Change::InsertGroup(group.clone())],
        "insert group",
    )
    .await;
    let mut expected = BTreeSet::new();
    for chunk in (0..N).collect::<Vec<_>>().chunks(2000) {
        let mut changes = Vec::with_capacity(chunk.len());
        for &i in chunk {
            // Even serials now; odd ones are inserted while paging.
            let d = fx.device(&group, Fixtures::serial(i * 2).as_str());
            expected.insert(d.serial().clone());
            changes.push(Change::InsertDevice(d));
        }
        must_commit(&*store, changes, "bulk insert").await;
    }

    let writer_store = Arc::clone(&store);
    let writer_group = group.clone();
    let writer = tokio::spawn(async move {
        let fx = Fixtures::starting_at(1_000_000);
        for i in (0..N).step_by(7) {
            let d = fx.device(&writer_group, Fixtures::serial(i * 2 + 1).as_str());
            if let Err(e) = commit(&*writer_store, vec![Change::InsertDevice(d)]).await {
                panic!("concurrent insert failed: {e}");
            }
            tokio::task::yield_now().await;
        }
    });

    let query = DeviceQuery::group(group.id());
    let mut seen: Vec<SerialNumber> = Vec::new();
    let mut after: Option<SerialNumber> = None;
    loop {
        let page = store
            .devices(&query, after.clone(), 500)
            .await
            .unwrap_or_else(|e| panic!("paging failed: {e}"));
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 500, "a page holds at most the limit");
        after = page.last().map(|d| d.serial().clone());
        seen.extend(page.into_iter().map(|d| d.serial().clone()));
        tokio::task::yield_now().await;
    }
    writer.await.unwrap_or_else(|e| panic!("writer task: {e}"));

    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "pages come in strictly ascending serial order, without duplicates"
    );
    let seen_set: HashSet<&SerialNumber> = seen.iter().collect();
    let missing: Vec<_> = expected.iter().filter(|s| !seen_set.contains(s)).collect();
    assert!(
        missing.is_empty(),
        "every device that existed throughout was visited; missing {} such as {:?}",
        missing.len(),
        missing.first()
    );
}

/// Contract 5: every filter, alone and combined, in `devices` and `count_devices`.
pub async fn filters<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    let other = fx.group("other");
    must_commit(
        &*store,
        vec![
            Change::InsertGroup(group.clone()),
            Change::InsertGroup(other.clone()),
        ],
        "insert groups",
    )
    .await;
    let all = filter_devices(&fx, &group);
    // Noise in another group that every query must ignore.
    let noise = fx.device(&other, "AB-000");
    let mut changes: Vec<Change> = all.iter().cloned().map(Change::InsertDevice).collect();
    changes.push(Change::InsertDevice(noise));
    must_commit(&*store, changes, "insert devices").await;

    let filters = filter_cases();
    for filter in filters {
        let query = DeviceQuery::new(group.id(), filter.clone());
        let mut expected: Vec<SerialNumber> = all
            .iter()
            .filter(|d| query.matches(d))
            .map(|d| d.serial().clone())
            .collect();
        expected.sort();
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .devices(&query, after.take(), 7)
                .await
                .unwrap_or_else(|e| panic!("query failed: {e}"));
            if page.is_empty() {
                break;
            }
            after = page.last().map(|d| d.serial().clone());
            got.extend(page.into_iter().map(|d| d.serial().clone()));
        }
        assert_eq!(got, expected, "devices() for {filter:?}");
        let count = store.count_devices(&query).await.ok();
        assert_eq!(
            count,
            Some(expected.len() as u64),
            "count_devices() for {filter:?}"
        );
    }
}

/// Sixty devices of `group` with every filtered field varied: two serial prefixes, batch
/// tags, models, own targets and all three statuses.
fn filter_devices(fx: &Fixtures, group: &dps_core::RegistrationGroup) -> Vec<dps_core::Device> {
    let mut all = Vec::new();
    for i in 0..60 {
        let mut d = fx.device(
            group,
            &format!("{}-{i:03}", if i % 2 == 0 { "AB" } else { "CD" }),
        );
        let mut edit = dps_core::DeviceEdit::default();
        if i % 3 == 0 {
            edit.batch_tag = Some(Some("b2".parse().unwrap_or_else(|e| panic!("{e}"))));
        }
        if i % 4 == 0 {
            edit.model_id = Some("m2".parse().unwrap_or_else(|e| panic!("{e}")));
        }
        if i % 5 == 0 {
            edit.target = Some(Some(Fixtures::other_target()));
        }
        if !edit.is_empty() {
            d = dps_core::lifecycle::edit(&d, group, &edit, EPOCH)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let d = match i % 6 {
            0 => fx.allocated(group, &d).1,
            1 => fx.pending(group, &d),
            _ => d,
        };
        all.push(d);
    }
    all
}

/// Every filter alone, some that match nothing, and one combination.
fn filter_cases() -> Vec<DeviceFilter> {
    let p = |s: &str| -> SerialNumber { s.parse().unwrap_or_else(|e| panic!("{e}")) };
    vec![
        DeviceFilter::default(),
        DeviceFilter {
            status: Some(AllocationStatus::NotAllocated),
            ..Default::default()
        },
        DeviceFilter {
            status: Some(AllocationStatus::Pending),
            ..Default::default()
        },
        DeviceFilter {
            status: Some(AllocationStatus::Allocated),
            ..Default::default()
        },
        DeviceFilter {
            batch_tag: Some("b2".parse().unwrap_or_else(|e| panic!("{e}"))),
            ..Default::default()
        },
        DeviceFilter {
            model_id: Some("m2".parse().unwrap_or_else(|e| panic!("{e}"))),
            ..Default::default()
        },
        DeviceFilter {
            target: Some(Fixtures::other_target()),
            ..Default::default()
        },
        DeviceFilter {
            allocated_to: Some(Fixtures::target()),
            ..Default::default()
        },
        DeviceFilter {
            allocated_to: Some(Fixtures::other_target()),
            ..Default::default()
        },
        DeviceFilter {
            serial_prefix: Some(p("AB")),
            ..Default::default()
        },
        DeviceFilter {
            serial_prefix: Some(p("CD-00")),
            ..Default::default()
        },
        DeviceFilter {
            serial_prefix: Some(p("ZZ")),
            ..Default::default()
        },
        DeviceFilter {
            status: Some(AllocationStatus::NotAllocated),
            batch_tag: Some("b2".parse().unwrap_or_else(|e| panic!("{e}"))),
            serial_prefix: Some(p("CD")),
            ..Default::default()
        },
    ]
}

/// Contract 5: `pending_devices` lists exactly the pending devices of every group, by
/// identifier, with keyset paging.
pub async fn pending_listing<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let (g1, g2) = (fx.group("one"), fx.group("two"));
    let mut changes = vec![
        Change::InsertGroup(g1.clone()),
        Change::InsertGroup(g2.clone()),
    ];
    let mut expected = Vec::new();
    for i in 0..25 {
        let g = if i % 2 == 0 { &g1 } else { &g2 };
        let d = fx.device(g, Fixtures::serial(i).as_str());
        let d = if i % 3 == 0 {
            let p = fx.pending(g, &d);
            expected.push(p.id());
            p
        } else {
            d
        };
        changes.push(Change::InsertDevice(d));
    }
    must_commit(&*store, changes, "insert").await;
    expected.sort();
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .pending_devices(after, 3)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if page.is_empty() {
            break;
        }
        assert!(
            page.iter().all(|d| d.status() == AllocationStatus::Pending),
            "only pending devices are listed"
        );
        after = page.last().map(|d| d.id());
        got.extend(page.iter().map(|d| d.id()));
    }
    assert_eq!(got, expected, "every pending device once, by identifier");
}
