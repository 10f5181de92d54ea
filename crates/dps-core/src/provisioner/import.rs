//! Planning and applying bulk imports: the one bulk-registration path.

use std::collections::{HashMap, HashSet};

use crate::changeset::{Changeset, Transition};
use crate::device::Device;
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::group::RegistrationGroup;
use crate::import::{
    ImportAction, ImportApplied, ImportFields, ImportMode, ImportPlan, ImportRecord,
};
use crate::store::Store;
use crate::text::SerialNumber;

use super::{Atomicity, Provisioner};

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Plans the import of `records` into `group`; nothing is written.
    ///
    /// Each record is checked against the group's schema and the stored devices: a new
    /// serial plans [`ImportAction::Create`] (in [`ImportMode::Update`] it is refused as
    /// [`Error::UnknownSerial`] instead); an existing one is refused as
    /// [`Error::AlreadyRegistered`] in [`ImportMode::Create`], and in
    /// [`ImportMode::Upsert`] and [`ImportMode::Update`] plans [`ImportAction::Update`] or [`ImportAction::Unchanged`]
    /// (or is refused with [`Error::Conflict`] for a stale expected version,
    /// [`Error::OperationInProgress`] for a pending device, or an attribute error). A serial
    /// that repeats within `records` is refused as already registered.
    ///
    /// # Errors
    ///
    /// Store errors while reading the existing devices; per-record refusals are in the plan.
    pub async fn plan_import(
        &self,
        group: &RegistrationGroup,
        records: Vec<ImportRecord>,
        mode: ImportMode,
        fields: &ImportFields,
    ) -> Result<ImportPlan> {
        let now = self.now();
        let mut existing: HashMap<SerialNumber, Device> = HashMap::new();
        let page = self.config.page_size.max(1);
        for chunk in records.chunks(page) {
            let serials: Vec<SerialNumber> =
                chunk.iter().map(|r| r.device.serial.clone()).collect();
            for d in self
                .store()
                .devices_by_serials(group.id(), &serials)
                .await?
            {
                existing.insert(d.serial().clone(), d);
            }
        }
        let mut outcomes = Vec::with_capacity(records.len());
        let mut changes = Vec::with_capacity(records.len());
        let mut seen: HashSet<SerialNumber> = HashSet::with_capacity(records.len());
        for record in records {
            let index = outcomes.len();
            let serial = record.device.serial.clone();
            if !seen.insert(serial.clone()) {
                outcomes.push(Err(Error::AlreadyRegistered {
                    group: group.id(),
                    serial,
                }));
                continue;
            }
            let outcome = match existing.remove(&serial) {
                None if mode == ImportMode::Update => Err(Error::UnknownSerial {
                    group: group.id(),
                    serial,
                }),
                None => Device::register(self.new_device_id(), group, record.device, now).map(
                    |device| {
                        changes.push((index, Transition::registered(device, now)));
                        ImportAction::Create
                    },
                ),
                Some(current) => match mode {
                    ImportMode::Create => Err(Error::AlreadyRegistered {
                        group: group.id(),
                        serial,
                    }),
                    ImportMode::Upsert | ImportMode::Update => current
                        .edited(group, &fields.edit_for(&record), now)
                        .map(|next| {
                            if same_editable(&current, &next) {
                                ImportAction::Unchanged
                            } else {
                                changes.push((index, Transition::edited(&current, next, now)));
                                ImportAction::Update
                            }
                        }),
                },
            };
            outcomes.push(outcome);
        }
        Ok(ImportPlan {
            group: group.id(),
            outcomes,
            changes,
        })
    }

    /// Applies a plan from [`Provisioner::plan_import`].
    ///
    /// With [`Atomicity::AllOrNothing`], a plan with any refused record writes nothing and
    /// reports `committed: false`; otherwise every change lands in one commit. With
    /// [`Atomicity::BestEffort`], the changes are committed in chunks of
    /// [`Config::chunk_size`](crate::Config::chunk_size); when a chunk fails (a concurrent
    /// writer changed a device or took a serial meanwhile) its changes are committed one by one
    /// so that each gets its own outcome ([`Error::Conflict`], [`Error::AlreadyRegistered`]).
    ///
    /// # Errors
    ///
    /// Store errors of an all-or-nothing commit (nothing was written).
    pub async fn apply_import(
        &self,
        plan: ImportPlan,
        atomicity: Atomicity,
    ) -> Result<ImportApplied> {
        let ImportPlan {
            mut outcomes,
            changes,
            ..
        } = plan;
        if atomicity == Atomicity::AllOrNothing {
            if outcomes.iter().any(|o| o.is_err()) {
                return Ok(ImportApplied {
                    outcomes,
                    committed: false,
                });
            }
            if !changes.is_empty() {
                let mut cs = Changeset::with_capacity(changes.len());
                for (_, t) in changes {
                    cs.transition(t);
                }
                self.store_commit(cs).await?;
            }
            return Ok(ImportApplied {
                outcomes,
                committed: true,
            });
        }
        for chunk in changes.chunks(self.config.chunk_size.max(1)) {
            let mut cs = Changeset::with_capacity(chunk.len());
            for (_, t) in chunk {
                cs.transition(t.clone());
            }
            if let Err(e) = self.store_commit(cs).await {
                if let [(i, _)] = chunk {
                    outcomes[*i] = Err(e.into());
                    continue;
                }
                for (i, t) in chunk {
                    if let Err(e) = self.commit(t.clone()).await {
                        outcomes[*i] = Err(e);
                    }
                }
            }
        }
        Ok(ImportApplied {
            outcomes,
            committed: true,
        })
    }
}

/// Whether two versions of a device agree in every field an import can change.
fn same_editable(a: &Device, b: &Device) -> bool {
    a.name() == b.name()
        && a.model_id() == b.model_id()
        && a.timezone() == b.timezone()
        && a.batch_tag() == b.batch_tag()
        && a.description() == b.description()
        && a.target() == b.target()
        && a.attributes() == b.attributes()
}
