//! The futures of the CSV and QR functions are `Send` over a provisioner of trait objects, so
//! that they run in axum handlers and tokio tasks (the provisioner's own are proved in the
//! guide's doctest).

use std::sync::Arc;

use dps::csv::{ExportOptions, ImportOptions};
use dps::inject::OsSecrets;
use dps::memory::InMemoryStore;
use dps::qr::ArchiveOptions;
use dps::{Environment, NewGroup, Provisioner, Selection, StaticConfig, StaticEnvironment, Store};

/// Hands `future` back, if it is `Send`.
fn send<F: Future + Send>(future: F) -> F {
    future
}

#[tokio::test]
async fn csv_and_qr_futures_are_send() -> Result<(), Box<dyn std::error::Error>> {
    let env: Arc<dyn Environment> = Arc::new(StaticEnvironment::new(
        StaticConfig::default(),
        Arc::new(OsSecrets),
    ));
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    let dps = Provisioner::new(store, env).with_keys(dps::seal::Keys::ephemeral());
    let group = dps.create_group(NewGroup::new("lab".parse()?)).await?.id();
    let all = Selection::all();

    let file = "Device Serial No.,Model ID\nSN-1,thermostat\n";
    let options = ImportOptions::default();
    let imported = send(dps::csv::import(&dps, group, file.as_bytes(), &options)).await?;
    assert_eq!(imported.summary.created, 1);

    let options = ExportOptions::default();
    let (csv, summary) = send(dps::csv::export(&dps, group, &all, Vec::new(), &options)).await?;
    assert_eq!(summary.rows, 1);
    assert!(String::from_utf8(csv)?.contains("SN-1,"));

    let mut zip = Vec::new();
    let options = ArchiveOptions::default();
    let labels = send(dps::qr::export_zip(&dps, group, &all, &mut zip, options)).await?;
    assert_eq!(labels.succeeded(), 1);
    assert!(zip.starts_with(b"PK"));
    Ok(())
}
