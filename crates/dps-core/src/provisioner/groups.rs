//! Group CRUD and secret rotation.

use crate::bootstrap::SecretRotation;
use crate::changeset::Transition;
use crate::environment::Environment;
use crate::error::{Entity, Error, Result};
use crate::event::EventKind;
use crate::group::{GroupEdit, NewGroup, RegistrationGroup};
use crate::id::GroupId;
use crate::store::{DeviceQuery, Store};

use super::{BatchReport, Page, Provisioner, Selection};

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Creates a group with a fresh group secret, sealed.
    ///
    /// # Errors
    ///
    /// [`Error::KeyUnavailable`] without a sealing key, store errors.
    pub async fn create_group(&self, new: NewGroup) -> Result<RegistrationGroup> {
        let now = self.now();
        let id = self.new_group_id();
        let group = RegistrationGroup::new(id, new, self.new_group_secret(id)?, now);
        self.commit(Transition::group_created(group.clone(), now))
            .await?;
        Ok(group)
    }

    /// The group with this identifier.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none.
    pub async fn group(&self, id: GroupId) -> Result<RegistrationGroup> {
        self.store
            .group(id)
            .await?
            .ok_or_else(|| Error::not_found(Entity::Group, id))
    }

    /// The group whose ID or unique name is `reference`, as the CLI and the HTTP API name
    /// groups.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when no group has that ID or name, [`Error::AmbiguousGroup`] when
    /// several have that name, and store errors.
    pub async fn find_group(&self, reference: &str) -> Result<RegistrationGroup> {
        self.find_group_in(reference, |_| true).await
    }

    /// The group whose ID or unique name is `reference` among the groups that `scope`
    /// admits, as [`find_group`](Provisioner::find_group) finds it among all: a group
    /// outside the scope is not found, and does not make a name ambiguous.
    ///
    /// # Errors
    ///
    /// As [`find_group`](Provisioner::find_group).
    pub async fn find_group_in(
        &self,
        reference: &str,
        scope: impl Fn(GroupId) -> bool,
    ) -> Result<RegistrationGroup> {
        let not_found = || Error::not_found(Entity::Group, reference);
        if let Ok(id) = reference.parse::<GroupId>() {
            return match self.group(id).await {
                Ok(group) if scope(group.id()) => Ok(group),
                Ok(_) | Err(Error::NotFound { .. }) => Err(not_found()),
                Err(e) => Err(e),
            };
        }
        let mut found = Vec::new();
        let mut after = None;
        loop {
            let page = self.groups(after, 500).await?;
            found.extend(
                page.items
                    .into_iter()
                    .filter(|g| g.name().as_str() == reference && scope(g.id())),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        match found.len() {
            0 => Err(not_found()),
            1 => Ok(found.remove(0)),
            count => Err(Error::AmbiguousGroup {
                name: reference.to_owned(),
                count,
            }),
        }
    }

    /// Groups after `after`, by identifier, at most `limit`.
    ///
    /// The page's `next` is `None` exactly when no group follows it.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn groups(
        &self,
        after: Option<GroupId>,
        limit: usize,
    ) -> Result<Page<RegistrationGroup, GroupId>> {
        let mut items = self.store.groups(after, limit.saturating_add(1)).await?;
        let next = (items.len() > limit)
            .then(|| {
                items.truncate(limit);
                items.last().map(RegistrationGroup::id)
            })
            .flatten();
        Ok(Page { items, next })
    }

    /// Changes a group's settings.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Conflict`] for a stale expected version, store errors.
    pub async fn edit_group(&self, id: GroupId, edit: GroupEdit) -> Result<RegistrationGroup> {
        let group = self.group(id).await?;
        if let Some(v) = edit.expected_version
            && v != group.version()
        {
            return Err(Error::Conflict {
                entity: Entity::Group,
                key: id.to_string(),
            });
        }
        let now = self.now();
        let edited = group.edited(edit, now);
        let kind = EventKind::GroupEdited;
        self.commit(Transition::group_updated(
            group.version(),
            edited.clone(),
            kind,
            now,
        ))
        .await?;
        Ok(edited)
    }

    /// Deletes a group. A group that still has devices is deleted only with `cascade`, which
    /// deletes its devices first (offboarding allocated ones); if any of them cannot be
    /// deleted, the group stays and the report says why.
    ///
    /// # Errors
    ///
    /// [`Error::GroupNotEmpty`] without `cascade`, [`Error::NotFound`], store errors.
    pub async fn delete_group(&self, id: GroupId, cascade: bool) -> Result<BatchReport> {
        let group = self.group(id).await?;
        let count = self.store.count_devices(&DeviceQuery::group(id)).await?;
        let mut report = BatchReport::default();
        if count > 0 {
            if !cascade {
                return Err(Error::GroupNotEmpty {
                    group: id,
                    devices: count,
                });
            }
            report = self.delete(id, &Selection::all()).await?;
            if !report.all_succeeded() {
                return Ok(report);
            }
        }
        let now = self.now();
        self.commit(Transition::group_deleted(&group, now)).await?;
        Ok(report)
    }

    /// Replaces a group's secret with a fresh one from the injected secret source, and with
    /// it every device bootstrap key of the group. With [`SecretRotation::Graceful`] the old
    /// secret keeps verifying for
    /// [`BootstrapConfig::secret_grace`](crate::bootstrap::BootstrapConfig::secret_grace); with
    /// [`SecretRotation::Immediate`] it stops at once. Event `GroupSecretRotated`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Conflict`] when the group changed meanwhile,
    /// [`Error::KeyUnavailable`] without a sealing key, store errors.
    pub async fn rotate_group_secret(
        &self,
        group: GroupId,
        rotation: SecretRotation,
    ) -> Result<RegistrationGroup> {
        let group = self.group(group).await?;
        let now = self.now();
        let previous_kept = rotation == SecretRotation::Graceful;
        let secret = self.new_group_secret(group.id())?;
        let rotated = group.with_rotated_secret(secret, previous_kept, now);
        let kind = EventKind::GroupSecretRotated { previous_kept };
        self.commit(Transition::group_updated(
            group.version(),
            rotated.clone(),
            kind,
            now,
        ))
        .await?;
        Ok(rotated)
    }
}
