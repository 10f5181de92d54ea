//! Serves the reference webhook platform.
//!
//! ```text
//! webhook-platform --secret-file FILE [--listen 127.0.0.1:9000] [--data FILE.jsonl]
//!                  [--models a,b] [--mqtt URL] [--http URL]
//! ```
//!
//! The secret is the file's content without its trailing line break. Ctrl-C stops the server
//! after the requests in flight.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;

use webhook_platform::{Platform, PlatformConfig};

const USAGE: &str = "usage: webhook-platform --secret-file FILE [--listen ADDR] [--data FILE.jsonl] [--models a,b] [--mqtt URL] [--http URL]";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let (listen, config) = parse(std::env::args().skip(1))?;
    let platform = Platform::new(config)?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    println!("webhook platform on http://{address}/ (state at http://{address}/_platform/state)");
    axum::serve(listener, platform.router())
        .with_graceful_shutdown(async {
            // Without a Ctrl-C handler the server runs until it is killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await?;
    Ok(())
}

fn parse(
    mut args: impl Iterator<Item = String>,
) -> Result<(SocketAddr, PlatformConfig), Box<dyn Error + Send + Sync>> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 9000));
    let mut secret_file = None;
    let mut config = PlatformConfig::new(String::new());
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--secret-file" => secret_file = Some(PathBuf::from(value()?)),
            "--data" => config.data_file = Some(PathBuf::from(value()?)),
            "--models" => {
                config.models = value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "--mqtt" => config.mqtt = Some(value()?),
            "--http" => config.http = Some(value()?),
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}").into()),
        }
    }
    let secret_file = secret_file.ok_or_else(|| format!("--secret-file is required; {USAGE}"))?;
    let secret = std::fs::read_to_string(&secret_file)
        .map_err(|e| format!("cannot read {}: {e}", secret_file.display()))?;
    let secret = secret.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(format!("{} is empty", secret_file.display()).into());
    }
    config.secret = secret.to_owned();
    Ok((listen, config))
}
