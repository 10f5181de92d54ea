//! The page runner of every environment operation: one commit records the intents of a page,
//! the environment calls run concurrently, and one commit settles the page's results.
//!
//! A page is all or nothing in the store: when one of its commits fails (a device changed or
//! vanished meanwhile, or a serial was taken), that commit's changes are committed one by one,
//! so that each device gets its own outcome and the others go on. A crash between the two
//! commits leaves the page's devices pending with their operation IDs, which
//! [`Provisioner::recover`] completes.

use std::collections::HashMap;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::changeset::{Changeset, Transition};
use crate::environment::{
    Credentials, Environment, EnvironmentError, OffboardCall, OnboardCall, Onboarded, ReissueCall,
};
use crate::error::{Error, Result};
use crate::group::RegistrationGroup;
use crate::id::DeviceId;
use crate::lifecycle::{Begun, EnvCall, EnvOutcome, Outcome, PendingDevice, Settlement};
use crate::seal::SecretOf;
use crate::state::SealedCredentials;
use crate::store::Store;
use crate::text::Target;

/// What the environment answered, its credentials still in clear.
enum Answer {
    Onboarded(Onboarded),
    Offboarded,
    Reissued(Credentials),
}

use super::Provisioner;

/// One device's part of a page, decided before anything is written.
#[allow(
    clippy::large_enum_variant,
    reason = "most of a page's plans are begun operations; boxing them adds an allocation each"
)]
pub(super) enum Plan<'g> {
    /// Refused before anything was written.
    Refused(Error),
    /// One change finishes the operation without the environment (a missing model recorded
    /// on the device, the deletion of an unallocated device); `result` is what the caller is
    /// told once it is committed.
    Final {
        /// The change, with its event.
        transition: Transition,
        /// The outcome once committed.
        result: Result<Outcome>,
    },
    /// An operation that calls the environment: its intent goes in the page's first commit.
    Begun {
        /// The intent and the pending device.
        begun: Begun,
        /// The device's group, which the settlement reads.
        group: &'g RegistrationGroup,
    },
}

/// What became of one planned device.
pub(super) enum Ran {
    /// The store refused the device's first change (its intent, say): nothing was written
    /// for it.
    NotCommitted(Error),
    /// The operation ran: its outcome.
    Done(Result<Outcome>),
}

impl Ran {
    /// The outcome, a refused first change being a failure like any other.
    pub(super) fn into_result(self) -> Result<Outcome> {
        match self {
            Ran::NotCommitted(e) => Err(e),
            Ran::Done(result) => result,
        }
    }
}

/// A planned device whose first change is committed and which waits for the environment.
struct Driven<'g> {
    index: usize,
    pending: PendingDevice,
    group: &'g RegistrationGroup,
}

/// One driven device's environment call, owned.
enum Call {
    Onboard(OnboardCall),
    Offboard(OffboardCall),
    Reissue(ReissueCall),
}

/// The environment calls of a page, as the driver makes them.
#[allow(
    clippy::large_enum_variant,
    reason = "without batch calls every unit is a single one; boxing adds an allocation each"
)]
enum Unit<'g> {
    /// One device, one single call.
    Single(Driven<'g>),
    /// Onboards to one target in one [`Environment::onboard_many`].
    Onboards(Chunk<'g, OnboardCall>),
    /// Offboards from one target in one [`Environment::offboard_many`].
    Offboards(Chunk<'g, OffboardCall>),
    /// Reissues in one target in one [`Environment::reissue_many`].
    Reissues(Chunk<'g, ReissueCall>),
}

/// The settled devices of one unit: a single call's one, without a vector for it.
#[allow(
    clippy::large_enum_variant,
    reason = "it lives in a future until it is pushed to the page's results; a box would cost \
              the allocation this type saves"
)]
enum Settled {
    One((usize, Result<Settlement>)),
    Many(Vec<(usize, Result<Settlement>)>),
}

/// Calls of one kind to one target, with the devices that wait for them, in the same order.
struct Chunk<'g, C> {
    target: Target,
    members: Vec<Driven<'g>>,
    calls: Vec<C>,
}

/// Calls of one kind, gathered by target into chunks of at most a limit.
struct Chunks<'g, C> {
    open: HashMap<Target, Chunk<'g, C>>,
    full: Vec<Chunk<'g, C>>,
}

impl<C> Default for Chunks<'_, C> {
    fn default() -> Self {
        Self {
            open: HashMap::new(),
            full: Vec::new(),
        }
    }
}

impl<'g, C> Chunks<'g, C> {
    /// Adds `call` for `driven` to `target`'s open chunk, which is full at `limit` calls.
    fn push(&mut self, target: Target, limit: usize, driven: Driven<'g>, call: C) {
        let chunk = self.open.entry(target.clone()).or_insert_with(|| Chunk {
            target: target.clone(),
            members: Vec::new(),
            calls: Vec::new(),
        });
        chunk.members.push(driven);
        chunk.calls.push(call);
        if chunk.calls.len() >= limit
            && let Some(full) = self.open.remove(&target)
        {
            self.full.push(full);
        }
    }

    /// Every chunk as a unit; a chunk of one call as a single call.
    fn into_units(self, unit: fn(Chunk<'g, C>) -> Unit<'g>) -> impl Iterator<Item = Unit<'g>> {
        self.full
            .into_iter()
            .chain(self.open.into_values())
            .map(move |mut chunk| {
                if chunk.members.len() == 1
                    && let Some(only) = chunk.members.pop()
                {
                    Unit::Single(only)
                } else {
                    unit(chunk)
                }
            })
    }
}

/// A page whose first commit is done, and whose begun devices wait for the environment.
pub(super) struct BegunPage<'g> {
    /// The outcome of each planned device known so far, in plan order.
    ran: Vec<Option<Ran>>,
    /// The devices whose intents are committed.
    waiting: Vec<Driven<'g>>,
}

/// A page whose first commit and environment calls are done, and whose settlements wait for
/// their commit.
pub(super) struct StartedPage {
    /// The outcome of each planned device known so far, in plan order.
    ran: Vec<Option<Ran>>,
    /// The settlements to commit, by plan index.
    settlements: Vec<(usize, Settlement)>,
}

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Runs one page of planned devices: their first changes in one commit, the environment
    /// calls of the begun ones [`Config::concurrency`](crate::Config) at a time, and their
    /// settlements in one commit. The outcomes come back in plan order.
    pub(super) async fn run_page(&self, plans: Vec<Plan<'_>>) -> Vec<Ran> {
        let begun = self.begin_page(plans).await;
        let started = self.call_page(begun).await;
        self.finish_page(started).await
    }

    /// The first step of [`Provisioner::run_page`]: the first commit.
    pub(super) async fn begin_page<'g>(&self, plans: Vec<Plan<'g>>) -> BegunPage<'g> {
        let mut ran: Vec<Option<Ran>> = Vec::with_capacity(plans.len());
        let mut first = Vec::with_capacity(plans.len());
        let mut waiting = Vec::new();
        for (index, plan) in plans.into_iter().enumerate() {
            match plan {
                Plan::Refused(e) => ran.push(Some(Ran::Done(Err(e)))),
                Plan::Final { transition, result } => {
                    first.push((index, transition, Some(result)));
                    ran.push(None);
                }
                Plan::Begun { begun, group } => {
                    let Begun { intent, pending } = begun;
                    first.push((index, intent, None));
                    waiting.push(Driven {
                        index,
                        pending,
                        group,
                    });
                    ran.push(None);
                }
            }
        }

        // The first commit: every intent and final change of the page.
        let mut refused = self.commit_all(first.iter().map(|(i, t, _)| (*i, t))).await;
        for (index, _, result) in first {
            ran[index] = match (refused.remove(&index), result) {
                (Some(e), _) => Some(Ran::NotCommitted(e)),
                (None, Some(result)) => Some(Ran::Done(result)),
                (None, None) => None,
            };
        }
        waiting.retain(|d| ran[d.index].is_none());
        BegunPage { ran, waiting }
    }

    /// The second step of [`Provisioner::run_page`]: the environment calls, each answer
    /// settled (not committed).
    pub(super) async fn call_page(&self, begun: BegunPage<'_>) -> StartedPage {
        let BegunPage { mut ran, waiting } = begun;
        let mut settlements = Vec::with_capacity(waiting.len());
        for (index, settlement) in self.call_all(waiting).await {
            match settlement {
                Ok(settlement) => settlements.push((index, settlement)),
                Err(e) => ran[index] = Some(Ran::Done(Err(e))),
            }
        }
        StartedPage { ran, settlements }
    }

    /// The last step of [`Provisioner::run_page`]: the settlements' commit.
    pub(super) async fn finish_page(&self, started: StartedPage) -> Vec<Ran> {
        let StartedPage {
            mut ran,
            settlements,
        } = started;
        let mut refused = self
            .commit_all(settlements.iter().map(|(i, s)| (*i, &s.transition)))
            .await;
        for (index, settlement) in settlements {
            let result = match (refused.remove(&index), settlement.fallback) {
                (None, _) => settlement.result,
                // A rejected replacement whose old serial was taken meanwhile keeps the new one.
                (Some(Error::AlreadyRegistered { .. }), Some(fallback)) => {
                    self.commit(fallback).await.and(settlement.result)
                }
                (Some(e), _) => Err(e),
            };
            ran[index] = Some(Ran::Done(result));
        }
        ran.into_iter()
            .map(|r| r.unwrap_or_else(|| unreachable!("every planned device has an outcome")))
            .collect()
    }

    /// Calls the environment for every driven device and settles each answer as it comes:
    /// in single calls, or in `*_many` calls where the environment takes them
    /// ([`Environment::batch_limit`]); [`Config::concurrency`](crate::Config) calls at a time.
    async fn call_all(&self, driven: Vec<Driven<'_>>) -> Vec<(usize, Result<Settlement>)> {
        let limit = self.config.concurrency.max(1);
        let mut settled = Vec::with_capacity(driven.len());
        let mut units = self.units(driven).into_iter();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < limit {
                let Some(unit) = units.next() else { break };
                in_flight.push(self.run_unit(unit));
            }
            match in_flight.next().await {
                Some(Settled::One(done)) => settled.push(done),
                Some(Settled::Many(done)) => settled.extend(done),
                None => return settled,
            }
        }
    }

    /// The environment calls for `driven`: by kind and target, in chunks of at most the
    /// target's batch limit, where that limit is above one; else one call each.
    fn units<'g>(&self, driven: Vec<Driven<'g>>) -> Vec<Unit<'g>> {
        let mut singles = Vec::new();
        let mut onboards = Chunks::default();
        let mut offboards = Chunks::default();
        let mut reissues = Chunks::default();
        for d in driven {
            let batch = self.env.batch_limit(d.pending.target());
            if batch <= 1 {
                singles.push(d);
                continue;
            }
            let op = d.pending.pending().operation();
            let (target, call) = match d.pending.call() {
                EnvCall::Onboard { target, request } => (
                    target,
                    Call::Onboard(OnboardCall {
                        op,
                        device: request,
                    }),
                ),
                EnvCall::Offboard { target, asset_id } => (
                    target,
                    Call::Offboard(OffboardCall {
                        op,
                        asset_id: asset_id.clone(),
                    }),
                ),
                EnvCall::Reissue {
                    target,
                    asset_id,
                    serial,
                } => (
                    target,
                    Call::Reissue(ReissueCall {
                        op,
                        asset_id: asset_id.clone(),
                        new_serial: serial.clone(),
                    }),
                ),
            };
            let target = target.clone();
            match call {
                Call::Onboard(c) => onboards.push(target, batch, d, c),
                Call::Offboard(c) => offboards.push(target, batch, d, c),
                Call::Reissue(c) => reissues.push(target, batch, d, c),
            }
        }
        let mut units: Vec<Unit<'g>> = singles.into_iter().map(Unit::Single).collect();
        units.extend(onboards.into_units(Unit::Onboards));
        units.extend(offboards.into_units(Unit::Offboards));
        units.extend(reissues.into_units(Unit::Reissues));
        units
    }

    /// Makes one unit's call and settles its answers.
    async fn run_unit(&self, unit: Unit<'_>) -> Settled {
        Settled::Many(match unit {
            Unit::Single(d) => return Settled::One(self.call(d).await),
            Unit::Onboards(chunk) => {
                let answers = self.env.onboard_many(&chunk.target, &chunk.calls).await;
                let answers = answers.into_iter().map(|a| a.map(Answer::Onboarded));
                self.settle_chunk(chunk.members, answers)
            }
            Unit::Offboards(chunk) => {
                let answers = self.env.offboard_many(&chunk.target, &chunk.calls).await;
                let answers = answers.into_iter().map(|a| a.map(|()| Answer::Offboarded));
                self.settle_chunk(chunk.members, answers)
            }
            Unit::Reissues(chunk) => {
                let answers = self.env.reissue_many(&chunk.target, &chunk.calls).await;
                let answers = answers.into_iter().map(|a| a.map(Answer::Reissued));
                self.settle_chunk(chunk.members, answers)
            }
        })
    }

    /// Settles each member of a chunk with its answer, in order; a member without one (the
    /// environment answered fewer calls than it was given) stays pending as after a
    /// transient failure.
    fn settle_chunk(
        &self,
        members: Vec<Driven<'_>>,
        answers: impl Iterator<Item = Result<Answer, EnvironmentError>>,
    ) -> Vec<(usize, Result<Settlement>)> {
        let given = members.len();
        let mut answers = answers.fuse();
        let now = self.now();
        members
            .into_iter()
            .map(|d| {
                let answer = answers.next().unwrap_or_else(|| {
                    Err(EnvironmentError::transient(format!(
                        "the environment answered fewer than the {given} calls it was given"
                    )))
                });
                let outcome = self.sealed(d.pending.device().id(), answer);
                (d.index, d.pending.settle(d.group, outcome, now))
            })
            .collect()
    }

    /// Calls the environment for a committed pending device and settles its answer; nothing
    /// is committed here.
    async fn call(&self, driven: Driven<'_>) -> (usize, Result<Settlement>) {
        let Driven {
            index,
            pending,
            group,
        } = driven;
        let op = pending.pending().operation();
        let answer = match pending.call() {
            EnvCall::Onboard { target, request } => self
                .env
                .onboard(op, target, &request)
                .await
                .map(Answer::Onboarded),
            EnvCall::Offboard { target, asset_id } => self
                .env
                .offboard(op, target, asset_id)
                .await
                .map(|()| Answer::Offboarded),
            EnvCall::Reissue {
                target,
                asset_id,
                serial,
            } => self
                .env
                .reissue(op, target, asset_id, serial)
                .await
                .map(Answer::Reissued),
        };
        let outcome = self.sealed(pending.device().id(), answer);
        (index, pending.settle(group, outcome, self.now()))
    }

    /// The environment's answer for `device` with its credentials sealed. When they cannot
    /// be sealed the device stays pending, as after a transient failure, and a later
    /// [`Provisioner::recover`] asks the environment again (with the same operation ID).
    fn sealed(
        &self,
        device: DeviceId,
        answer: Result<Answer, EnvironmentError>,
    ) -> Result<EnvOutcome> {
        let seal = |c: Credentials| -> Result<SealedCredentials> {
            Ok(SealedCredentials {
                device_secret: self
                    .sealer
                    .seal(&c.device_secret, SecretOf::Device(device))?,
                product_key: c.product_key,
                device_key: c.device_key,
            })
        };
        Ok(match answer? {
            Answer::Onboarded(o) => EnvOutcome::Onboarded {
                asset_id: o.asset_id,
                credentials: seal(o.credentials)?,
            },
            Answer::Offboarded => EnvOutcome::Offboarded,
            Answer::Reissued(c) => EnvOutcome::Reissued(seal(c)?),
        })
    }

    /// Commits `transitions` in one changeset; when that fails, one by one, so that each
    /// gets its own outcome. Returns the store's refusals by index.
    async fn commit_all<'t>(
        &self,
        transitions: impl Iterator<Item = (usize, &'t Transition)> + Clone,
    ) -> HashMap<usize, Error> {
        let mut cs = Changeset::new();
        for (_, t) in transitions.clone() {
            cs.transition(t.clone());
        }
        if cs.is_empty() {
            return HashMap::new();
        }
        let single = cs.changes().len() == 1;
        let err = match self.store_commit(cs).await {
            Ok(()) => return HashMap::new(),
            Err(e) => Error::from(e),
        };
        if single {
            let mut refused = HashMap::new();
            if let Some((index, _)) = transitions.clone().next() {
                refused.insert(index, err);
            }
            return refused;
        }
        let mut refused = HashMap::new();
        for (index, t) in transitions {
            if let Err(e) = self.commit(t.clone()).await {
                refused.insert(index, e);
            }
        }
        refused
    }
}
