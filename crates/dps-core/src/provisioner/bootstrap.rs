//! Answering a device's bootstrap call: verification, auto-activation and the record of
//! every refusal.

use std::time::Duration;

use crate::bootstrap::{
    BootstrapAnswer, BootstrapClaims, BootstrapRefusal, BootstrapRequest, DeviceBootstrapKey,
    decoy_secret, signature_verifies,
};
use crate::changeset::Changeset;
use crate::device::Device;
use crate::environment::{Credentials, Environment};
use crate::error::{Error, Result};
use crate::event::{EventKind, NewEvent};
use crate::group::RegistrationGroup;
use crate::id::{DeviceId, GroupId};
use crate::seal::SecretOf;
use crate::secret::Secret;
use crate::state::{AllocationState, SealedCredentials};
use crate::store::Store;
use crate::text::SerialNumber;
use crate::time::Timestamp;

use super::Provisioner;

/// The refusals recorded in the current minute, for
/// [`BootstrapConfig::refusal_events_per_minute`](crate::bootstrap::BootstrapConfig::refusal_events_per_minute).
#[derive(Debug, Default)]
pub(super) struct RefusalBudget {
    /// When the current minute started.
    since: Option<Timestamp>,
    /// Refusals recorded since then.
    recorded: u32,
    /// Refusals not recorded since the last recorded one.
    suppressed: u64,
}

impl RefusalBudget {
    /// Whether a refusal at `now` is recorded under a limit of `per_minute`, and if so how
    /// many refusals before it were not.
    fn take(&mut self, now: Timestamp, per_minute: u32) -> Option<u64> {
        let minute_over = self
            .since
            .is_none_or(|since| since.saturating_add(Duration::from_secs(60)) <= now);
        if minute_over {
            self.since = Some(now);
            self.recorded = 0;
        }
        if self.recorded < per_minute {
            self.recorded += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// What one pass over a freshly read device came to.
#[allow(clippy::large_enum_variant, reason = "a short-lived return value")]
enum Step {
    Answered(BootstrapAnswer),
    ReadAgain,
}

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Answers a device's bootstrap call.
    ///
    /// In order:
    ///
    /// 1. The group must exist, the signature must verify with the key derived from the
    ///    group's secret (or from its previous secret during the grace period), and the
    ///    timestamp must be within [`BootstrapConfig::window`](crate::bootstrap::BootstrapConfig::window) of the injected clock; the
    ///    device must exist. Otherwise the answer is [`Error::Unauthorized`], the same for
    ///    every reason, and an [`EventKind::BootstrapRefused`] event records the real one.
    /// 2. A pending device gets [`Error::TryAgain`]. A device that is not allocated gets
    ///    [`Error::NotAllocated`], unless its group has auto-activation: then it is allocated
    ///    now, through the same path as [`Provisioner::allocate`], and its errors
    ///    ([`Error::NoTarget`], [`Error::ModelMissing`], …) are returned as they are.
    /// 3. At the device's first bootstrap, the name and timezone it sent fill its empty
    ///    fields (event `Edited`).
    /// 4. The target's endpoints are read, `bootstrapped_at` is set (event `Bootstrapped`)
    ///    and the device gets its endpoints, asset ID and credentials.
    ///
    /// Repeating a request returns the same credentials and never allocates a second time.
    /// When concurrent bootstraps of one device race, the store's version check lets one
    /// allocate; the others read the device again and answer from the allocation, or get
    /// [`Error::TryAgain`] while it is still pending.
    ///
    /// # Errors
    ///
    /// [`Error::Unauthorized`], [`Error::NotAllocated`], [`Error::TryAgain`], the allocation
    /// errors above, environment and store errors. [`Error::is_retryable`] says whether the
    /// device should try again later.
    pub async fn bootstrap(&self, request: &BootstrapRequest) -> Result<BootstrapAnswer> {
        let claims = &request.claims;
        let settings = &self.config.bootstrap;
        let now = self.now();
        let Some(group) = self.store.group(claims.group_id).await? else {
            // The same work as for a known group, so that the time taken tells little.
            let decoy = DeviceBootstrapKey::derive(&decoy_secret(), &claims.serial);
            std::hint::black_box(decoy.verify(request));
            return self.refuse(claims, BootstrapRefusal::UnknownGroup).await;
        };
        let current = self.open_group_secret(&group)?;
        let previous = || {
            let sealed = group.previous_secret_at(now, settings.secret_grace)?;
            // A previous secret that does not open verifies nothing; the current one did open.
            self.sealer.open(sealed, SecretOf::Group(group.id())).ok()
        };
        if !signature_verifies(&current, previous, request) {
            return self.refuse(claims, BootstrapRefusal::BadSignature).await;
        }
        let skew_seconds = claims.timestamp.saturating_sub(now.unix_seconds());
        if skew_seconds.unsigned_abs() > settings.window.as_secs() {
            let reason = BootstrapRefusal::StaleTimestamp { skew_seconds };
            return self.refuse(claims, reason).await;
        }
        let mut allocated_now = false;
        for _ in 0..settings.max_attempts.max(1) {
            let Some(device) = self
                .store()
                .device_by_serial(group.id(), &claims.serial)
                .await?
            else {
                return self.refuse(claims, BootstrapRefusal::UnknownSerial).await;
            };
            match self
                .bootstrap_device(&group, device, claims, &mut allocated_now)
                .await
            {
                Ok(Step::Answered(answer)) => return Ok(answer),
                Ok(Step::ReadAgain) | Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::TryAgain {
            serial: claims.serial.clone(),
        })
    }

    /// One pass of [`Provisioner::bootstrap`] over an authenticated device.
    async fn bootstrap_device(
        &self,
        group: &RegistrationGroup,
        device: Device,
        claims: &BootstrapClaims,
        allocated_now: &mut bool,
    ) -> Result<Step> {
        match device.state() {
            AllocationState::Pending(_) => {
                return Err(Error::TryAgain {
                    serial: device.serial().clone(),
                });
            }
            AllocationState::NotAllocated(_) if !group.auto_activation() => {
                return Err(Error::NotAllocated {
                    serial: device.serial().clone(),
                });
            }
            AllocationState::NotAllocated(_) | AllocationState::Allocated(_) => {}
        }
        let now = self.now();
        let device = match device.first_contact(claims.name.as_ref(), claims.timezone, now)? {
            Some(reported) => {
                let next = reported.device().cloned().unwrap_or_else(|| device.clone());
                self.commit(reported).await?;
                next
            }
            None => device,
        };
        let allocated = match device.state() {
            AllocationState::Allocated(allocated) => allocated,
            AllocationState::NotAllocated(_) => {
                self.allocate_one(group, device).await?;
                *allocated_now = true;
                return Ok(Step::ReadAgain);
            }
            AllocationState::Pending(_) => return Ok(Step::ReadAgain),
        };
        let endpoints = self.env.endpoints(allocated.target()).await?;
        let now = self.now();
        self.commit(device.bootstrapped(now)?).await?;
        Ok(Step::Answered(BootstrapAnswer {
            device_id: device.id(),
            serial: device.serial().clone(),
            target: allocated.target().clone(),
            endpoints,
            asset_id: allocated.asset_id().clone(),
            credentials: self.open_credentials(device.id(), allocated.credentials())?,
            bootstrapped_at: now,
            allocated_now: *allocated_now,
        }))
    }

    /// The refusals recorded this minute (a poisoned lock still holds valid counts).
    fn refusal_budget(&self) -> std::sync::MutexGuard<'_, RefusalBudget> {
        self.refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a refused bootstrap request (within
    /// [`BootstrapConfig::refusal_events_per_minute`](crate::bootstrap::BootstrapConfig::refusal_events_per_minute)) and answers [`Error::Unauthorized`].
    async fn refuse<T>(&self, claims: &BootstrapClaims, reason: BootstrapRefusal) -> Result<T> {
        let now = self.now();
        let suppressed = match self.config.bootstrap.refusal_events_per_minute {
            None => Some(0),
            Some(limit) => self.refusal_budget().take(now, limit),
        };
        if let Some(suppressed) = suppressed {
            let mut cs = Changeset::with_capacity(1);
            cs.event(NewEvent {
                at: now,
                actor: None,
                group_id: claims.group_id,
                device_id: None,
                serial: Some(claims.serial.clone()),
                kind: EventKind::BootstrapRefused { reason, suppressed },
            });
            self.store_commit(cs).await?;
        }
        Err(Error::Unauthorized)
    }

    /// The bootstrap key of the device `serial` of `group`, from the group's current secret
    /// (the device need not be registered yet, so a factory can flash units first).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group, [`Error::KeyUnavailable`] when its secret does not
    /// open, store errors.
    pub async fn device_bootstrap_key(
        &self,
        group: GroupId,
        serial: &SerialNumber,
    ) -> Result<DeviceBootstrapKey> {
        let group = self.group(group).await?;
        self.bootstrap_key_for(&group, serial)
    }

    /// The bootstrap key of the device `serial` of `group`, from the group's current secret:
    /// what a factory export writes for each unit. To derive many, open the secret once with
    /// [`Provisioner::open_group_secret`] and call [`DeviceBootstrapKey::derive`].
    ///
    /// # Errors
    ///
    /// [`Error::KeyUnavailable`] when the group's secret does not open.
    pub fn bootstrap_key_for(
        &self,
        group: &RegistrationGroup,
        serial: &SerialNumber,
    ) -> Result<DeviceBootstrapKey> {
        let secret = self.open_group_secret(group)?;
        Ok(DeviceBootstrapKey::derive(&secret, serial))
    }

    /// The group's current secret, opened: from it every device bootstrap key of the group
    /// derives. Call this only where the secret or the keys must leave the process (a factory
    /// export).
    ///
    /// # Errors
    ///
    /// [`Error::KeyUnavailable`] when the secret does not open.
    pub fn open_group_secret(&self, group: &RegistrationGroup) -> Result<Secret> {
        Ok(self
            .sealer
            .open(group.secret(), SecretOf::Group(group.id()))?)
    }

    /// The credentials of `device` with its device secret opened, or `None` when it is not
    /// allocated (pending included). Call this only
    /// where the secret must leave the process: an administrator's export or reveal.
    ///
    /// # Errors
    ///
    /// [`Error::KeyUnavailable`] when the secret does not open.
    pub fn credentials(&self, device: &Device) -> Result<Option<Credentials>> {
        device
            .state()
            .allocated()
            .map(|a| self.open_credentials(device.id(), a.credentials()))
            .transpose()
    }

    /// The credentials of `device` with its device secret opened, as
    /// [`credentials`](Self::credentials) gives them, for a person who asked to see them: the
    /// event log records it (`SecretRevealed`, naming this provisioner's actor) before the
    /// secret is handed out. `None`, and no event, when the device is not allocated.
    ///
    /// # Errors
    ///
    /// [`Error::KeyUnavailable`] when the secret does not open, and the store's error when
    /// the event cannot be recorded (then nothing is revealed).
    pub async fn reveal_credentials(&self, device: &Device) -> Result<Option<Credentials>> {
        let Some(credentials) = self.credentials(device)? else {
            return Ok(None);
        };
        let mut cs = Changeset::with_capacity(1);
        cs.event(NewEvent {
            at: self.now(),
            actor: None,
            group_id: device.group_id(),
            device_id: Some(device.id()),
            serial: Some(device.serial().clone()),
            kind: EventKind::SecretRevealed,
        });
        self.store_commit(cs).await?;
        Ok(Some(credentials))
    }

    /// `sealed` opened for `device`.
    fn open_credentials(
        &self,
        device: DeviceId,
        sealed: &SealedCredentials,
    ) -> Result<Credentials> {
        Ok(Credentials {
            product_key: sealed.product_key.clone(),
            device_key: sealed.device_key.clone(),
            device_secret: self
                .sealer
                .open(&sealed.device_secret, SecretOf::Device(device))?,
        })
    }

    /// Signs `claims` as their device would: derives the device's key from its group's
    /// current secret and signs with it. For tools and tests that act as a device (the CLI's
    /// `dps device bootstrap`); a real device signs with its flashed key instead.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group, store errors.
    pub async fn sign_as_device(&self, claims: BootstrapClaims) -> Result<BootstrapRequest> {
        let key = self
            .device_bootstrap_key(claims.group_id, &claims.serial)
            .await?;
        Ok(claims.sign(&key))
    }
}
