//! Serves the example provisioning service.
//!
//! ```text
//! embedded-service [--listen 127.0.0.1:8080]
//! ```
//!
//! The SQLite file is `$DPS_EXAMPLE_DB`, or `dps-embedded-service.sqlite` in the temporary
//! directory. Ctrl-C stops the server after the requests in flight.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use embedded_service::{Dps, app, provisioner};
use tokio::time::{MissedTickBehavior, interval};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let listen = listen_address(std::env::args().skip(1))?;
    let db = std::env::var_os("DPS_EXAMPLE_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("dps-embedded-service.sqlite"));
    let dps = Arc::new(provisioner(&db)?);

    // Complete what a previous run or a transient failure left pending, now and once a lease.
    let recovery = spawn_recovery(Arc::clone(&dps));

    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "serving {} on http://{}",
        db.display(),
        listener.local_addr()?
    );
    axum::serve(listener, app(dps))
        .with_graceful_shutdown(async {
            // Without a Ctrl-C handler the server runs until it is killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await?;
    recovery.abort();
    Ok(())
}

/// `--listen ADDR`, or 127.0.0.1:8080.
fn listen_address(
    mut args: impl Iterator<Item = String>,
) -> Result<SocketAddr, Box<dyn Error + Send + Sync>> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 8080));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args
                    .next()
                    .ok_or("--listen needs an address such as 127.0.0.1:8080")?;
                listen = value.parse()?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: embedded-service [--listen ADDR]"
                )
                .into());
            }
        }
    }
    Ok(listen)
}

/// Recovers at once and then once per lease, logging what failed.
fn spawn_recovery(dps: Arc<Dps>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = interval(dps.config().lease);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match dps.recover().await {
                Ok(report) => {
                    for outcome in &report.completed.outcomes {
                        if let Err(e) = &outcome.result {
                            eprintln!("recovery of {}: {} ({})", outcome.serial, e, e.code());
                        }
                    }
                }
                Err(e) => eprintln!("recovery: {e} ({})", e.code()),
            }
        }
    })
}
