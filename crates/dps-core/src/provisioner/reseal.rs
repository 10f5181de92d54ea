//! Sealing every stored secret again with the current key: to finish a key rotation, and to
//! seal the secrets that a database of an earlier release keeps in clear.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::changeset::{Change, Changeset};
use crate::device::Device;
use crate::environment::Environment;
use crate::error::{Result, StoreError};
use crate::group::RegistrationGroup;
use crate::id::{DeviceId, GroupId};
use crate::seal::{KeyError, SealedSecret, SecretOf};
use crate::store::{DeviceQuery, Store};
use crate::text::KeyId;

use super::Provisioner;

/// How often a record that keeps changing under a reseal is read again before the reseal
/// gives up on it for this pass.
const ATTEMPTS: usize = 5;

/// What [`Provisioner::reseal`] has sealed again so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ResealReport {
    /// Group secrets (current and previous) sealed with the current key.
    pub group_secrets: u64,
    /// Device secrets sealed with the current key.
    pub device_secrets: u64,
    /// Records that kept changing while they were resealed and were left as they are; a
    /// later reseal takes them up.
    pub skipped: u64,
}

impl ResealReport {
    /// How many secrets were sealed again.
    pub fn secrets(&self) -> u64 {
        self.group_secrets + self.device_secrets
    }
}

/// How many stored secrets each key seals, and how many are still in clear.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SecretsByKey {
    /// Secrets by the key that sealed them.
    pub sealed: BTreeMap<KeyId, u64>,
    /// Secrets kept in clear by a database of an earlier release.
    pub in_clear: u64,
}

impl SecretsByKey {
    /// How many secrets `key` seals.
    pub fn sealed_with(&self, key: &KeyId) -> u64 {
        self.sealed.get(key).copied().unwrap_or(0)
    }

    fn count(&mut self, secret: &SealedSecret) {
        match secret.key_id() {
            Some(key) => *self.sealed.entry(key.clone()).or_default() += 1,
            None => self.in_clear += 1,
        }
    }
}

/// The sealed secrets of a group: its current one and its previous one.
fn group_secrets(g: &mut RegistrationGroup) -> impl Iterator<Item = &mut SealedSecret> {
    std::iter::once(&mut g.secret).chain(g.previous_secret.as_mut())
}

/// The sealed secret of a device: that of the allocation it keeps.
fn device_secret(d: &mut Device) -> Option<&mut SealedSecret> {
    let allocated = d.state.kept_allocation_mut()?;
    Some(&mut allocated.credentials.device_secret)
}

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Seals every stored secret that the current key did not seal (secrets sealed with an
    /// older key, and secrets that a database of an earlier release keeps in clear) again
    /// with the current key, a page at a time; `progress` hears after each page what was
    /// done so far.
    ///
    /// Only the secrets change: records keep their versions and no event is recorded. Each
    /// page is one commit, so a reseal that stops half-way (a crash, a kill) leaves every
    /// secret sealed with either key, and running it again goes on where it stopped. A record
    /// that changes meanwhile is read again; one that keeps changing is counted in
    /// [`ResealReport::skipped`] and left for the next reseal. Devices are resealed before
    /// their group, so a group whose secrets are sealed with the current key had its devices
    /// resealed too.
    ///
    /// # Errors
    ///
    /// [`Error::KeyUnavailable`](crate::Error::KeyUnavailable) without a current key, or for a secret that none of the
    /// keys opens (the reseal stops there; nothing is garbled); store errors.
    pub async fn reseal(&self, mut progress: impl FnMut(&ResealReport)) -> Result<ResealReport> {
        self.sealer.current_key()?;
        let mut report = ResealReport::default();
        let page = self.config.page_size;
        let mut after = None;
        loop {
            let groups = self.store.groups(after, page).await?;
            for g in &groups {
                let skipped = report.skipped;
                self.reseal_devices(g.id(), &mut report, &mut progress)
                    .await?;
                // A group is resealed only after all its devices, so that a group sealed
                // with the current key says its devices are too.
                if report.skipped == skipped {
                    self.reseal_group(g.id(), &mut report).await?;
                } else {
                    report.skipped += 1;
                }
            }
            progress(&report);
            if groups.len() < page {
                return Ok(report);
            }
            after = groups.last().map(RegistrationGroup::id);
        }
    }

    /// Counts the stored secrets by the key that sealed them, reading every group and device
    /// a page at a time: what a key seals must be resealed before the key may go.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn secrets_by_key(&self) -> Result<SecretsByKey> {
        let mut counts = SecretsByKey::default();
        let page = self.config.page_size;
        let mut after = None;
        loop {
            let mut groups = self.store.groups(after, page).await?;
            for g in &mut groups {
                group_secrets(g).for_each(|s| counts.count(s));
                let query = DeviceQuery::group(g.id());
                let mut serial = None;
                loop {
                    let mut devices = self.store.devices(&query, serial, page).await?;
                    for d in &mut devices {
                        device_secret(d).into_iter().for_each(|s| counts.count(s));
                    }
                    if devices.len() < page {
                        break;
                    }
                    serial = devices.last().map(|d| d.serial().clone());
                }
            }
            if groups.len() < page {
                return Ok(counts);
            }
            after = groups.last().map(RegistrationGroup::id);
        }
    }

    /// `d` with its secret sealed with the current key, or `None` when it already is.
    fn resealed_device(&self, d: &Device) -> Result<Option<Device>, KeyError> {
        let mut next = d.clone();
        let Some(secret) = device_secret(&mut next) else {
            return Ok(None);
        };
        match self.sealer.reseal(secret, SecretOf::Device(d.id()))? {
            Some(sealed) => *secret = sealed,
            None => return Ok(None),
        }
        Ok(Some(next))
    }

    /// `g` with its secrets sealed with the current key, and how many changed.
    fn resealed_group(&self, g: &RegistrationGroup) -> Result<(RegistrationGroup, u64), KeyError> {
        let mut next = g.clone();
        let mut changed = 0;
        for secret in group_secrets(&mut next) {
            if let Some(sealed) = self.sealer.reseal(secret, SecretOf::Group(g.id()))? {
                *secret = sealed;
                changed += 1;
            }
        }
        Ok((next, changed))
    }

    /// Reseals the devices of `group`, a page per commit.
    async fn reseal_devices(
        &self,
        group: GroupId,
        report: &mut ResealReport,
        progress: &mut impl FnMut(&ResealReport),
    ) -> Result<()> {
        let query = DeviceQuery::group(group);
        let page = self.config.page_size;
        let mut after = None;
        loop {
            let devices = self.store.devices(&query, after, page).await?;
            let mut cs = Changeset::with_capacity(devices.len());
            let mut resealed = Vec::new();
            for d in &devices {
                if let Some(next) = self.resealed_device(d)? {
                    cs.push(Change::UpdateDevice {
                        expected: d.version(),
                        device: next,
                    });
                    resealed.push(d.id());
                }
            }
            if !cs.is_empty() {
                match self.store.commit(cs).await {
                    Ok(()) => report.device_secrets += resealed.len() as u64,
                    Err(e) if changed_meanwhile(&e) => {
                        for id in resealed {
                            self.reseal_one_device(id, report).await?;
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
                progress(report);
            }
            if devices.len() < page {
                return Ok(());
            }
            after = devices.last().map(|d| d.serial().clone());
        }
    }

    /// Reseals one device on its own, reading it again while it keeps changing.
    async fn reseal_one_device(&self, id: DeviceId, report: &mut ResealReport) -> Result<()> {
        for _ in 0..ATTEMPTS {
            let Some(d) = self.store.device(id).await? else {
                return Ok(());
            };
            let Some(next) = self.resealed_device(&d)? else {
                return Ok(());
            };
            let mut cs = Changeset::with_capacity(1);
            cs.push(Change::UpdateDevice {
                expected: d.version(),
                device: next,
            });
            match self.store.commit(cs).await {
                Ok(()) => {
                    report.device_secrets += 1;
                    return Ok(());
                }
                Err(e) if changed_meanwhile(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        report.skipped += 1;
        Ok(())
    }

    /// Reseals the secrets of `group`, reading it again while it keeps changing.
    async fn reseal_group(&self, group: GroupId, report: &mut ResealReport) -> Result<()> {
        for _ in 0..ATTEMPTS {
            let Some(g) = self.store.group(group).await? else {
                return Ok(());
            };
            let (next, changed) = self.resealed_group(&g)?;
            if changed == 0 {
                return Ok(());
            }
            let mut cs = Changeset::with_capacity(1);
            cs.push(Change::UpdateGroup {
                expected: g.version(),
                group: next,
            });
            match self.store.commit(cs).await {
                Ok(()) => {
                    report.group_secrets += changed;
                    return Ok(());
                }
                Err(e) if changed_meanwhile(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        report.skipped += 1;
        Ok(())
    }
}

/// Whether a commit failed because a record changed or went away since it was read.
fn changed_meanwhile(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict { .. } | StoreError::NotFound { .. })
}
