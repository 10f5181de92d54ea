//! The whole device lifecycle in memory: create a group, register 1000 devices, allocate them,
//! replace one, reset one, delete one, and read the event log.
//!
//! ```text
//! cargo run --release -p dps-core --example lifecycle
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use dps_core::{
    Atomicity, DeviceFilter, DeviceQuery, EventCursor, NewDevice, NewGroup, NewSerial, Provisioner,
    ReplaceRequest, Selection, inject::OsSecrets, state::AllocationStatus,
};
use dps_env_static::{StaticConfig, StaticEnvironment, TargetConfig};
use dps_store_memory::InMemoryStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = StaticEnvironment::new(
        StaticConfig {
            targets: vec![TargetConfig {
                environment: "prod-eu".parse()?,
                ou: "acme".parse()?,
                models: vec!["thermostat".parse()?],
                mqtt_endpoint: Some("mqtts://mqtt.example.com:8883".parse()?),
                http_endpoint: None,
            }],
        },
        Arc::new(OsSecrets),
    );
    let dps = Provisioner::new(InMemoryStore::new(), env).with_keys(dps::seal::Keys::ephemeral());

    let mut settings = NewGroup::new("Building 7".parse()?);
    settings.default_target = Some("prod-eu/acme".parse()?);
    let group = dps.create_group(settings).await?;
    println!("created group {} ({})", group.name(), group.id());

    let devices = (0..1000)
        .map(|i| -> Result<NewDevice, dps_core::ValidationError> {
            Ok(NewDevice::new(
                format!("SN-{i:05}").parse()?,
                "thermostat".parse()?,
            ))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let registered = dps
        .register_many(group.id(), devices, Atomicity::AllOrNothing)
        .await?;
    println!("registered {} devices", registered.registered());

    let allocated = dps.allocate(group.id(), &Selection::all()).await?;
    println!(
        "allocated {} devices, {} failed",
        allocated.succeeded(),
        allocated.failed()
    );

    let replaced = dps
        .replace(
            group.id(),
            &"SN-00001".parse()?,
            ReplaceRequest {
                new_serial: NewSerial::Generated,
                batch_tag: "rma-1".parse()?,
                description: None,
            },
        )
        .await?;
    println!("replaced SN-00001 with {}", replaced.serial());

    let reset = dps
        .reset(group.id(), &Selection::Serials(vec!["SN-00002".parse()?]))
        .await?;
    println!("reset {} device", reset.succeeded());

    let deleted = dps
        .delete(group.id(), &Selection::Serials(vec!["SN-00003".parse()?]))
        .await?;
    println!("deleted {} device", deleted.succeeded());

    let still_allocated = dps
        .count(&DeviceQuery::new(
            group.id(),
            DeviceFilter {
                status: Some(AllocationStatus::Allocated),
                ..Default::default()
            },
        ))
        .await?;
    let events = dps.events(EventCursor::START, usize::MAX).await?;
    println!(
        "{still_allocated} devices allocated, {} events in the log",
        events.len()
    );
    Ok(())
}
