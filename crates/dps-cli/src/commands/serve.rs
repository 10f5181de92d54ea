//! `dps serve`: the HTTP API over the database and the targets file.

use std::sync::Arc;

use dps_core::Provisioner;
use dps_core::access::Role;
use dps_http::Api;
use dps_http::server::{Tls, serve, signal};
use dps_keys_file::LiveKeyFile;

use super::token::issue;
use crate::cli::ServeArgs;
use crate::context::Targets;
use crate::database::Database;
use crate::{CliResult, Failure};

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
pub(crate) async fn run(
    db: &Database,
    targets: Targets,
    args: ServeArgs,
    json: bool,
) -> CliResult<u8> {
    init_logging();
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            Tls::from_pem_files(cert, key)
                .map_err(|e| Failure::invalid("invalid_tls", format!("TLS: {e}")))?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Failure::io("io_error", format!("cannot listen on {}: {e}", args.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::io("io_error", e.to_string()))?;

    // A database without tokens gets one admin token, shown once, so that nobody is locked out.
    let env = targets.environment(true)?;
    let cli = db.provisioner(Arc::clone(&env));
    let store = Arc::clone(&db.store);
    let first = if store.tokens().await?.is_empty() {
        Some(issue(&cli, "admin".parse()?, Role::Admin, Vec::new(), false).await?)
    } else {
        None
    };

    // Open to the network: at most 600 refused bootstraps a minute are recorded as events,
    // the others only counted, so that a flood of bad requests cannot fill the log.
    let mut config =
        dps_core::Config::default().with_lease(std::time::Duration::from_secs(args.lease));
    config.bootstrap = config.bootstrap.with_refusal_events_per_minute(600);
    let mut dps = Provisioner::builder(store, env).config(config).build();
    // The keys follow the key file, so that a rotation made meanwhile is taken up.
    let live = db.keys.clone().map(LiveKeyFile::new);
    if let Some(keys) = &live {
        dps = dps.with_keys(keys.clone());
    }
    let threshold = usize::try_from(args.job_threshold).unwrap_or(usize::MAX);
    let options = dps_http::Options::default().with_job_threshold(threshold);
    let api = Api::with_options(dps, options);
    let recovery = tokio::spawn(recover_every_lease(api.clone()));
    let follow = live.map(|keys| tokio::spawn(follow_key_file(keys)));

    let base = format!("{scheme}://{address}");
    if json {
        let doc = serde_json::json!({
            "url": base,
            "console": format!("{base}/"),
            "token": first.as_ref().map(|(_, text)| text),
        });
        crate::output::print_json(&doc)?;
    } else {
        println!("serving on {base}");
        println!("console: {base}/ (sign in with an access token)");
        if let Some((token, text)) = &first {
            println!(
                "created the admin token {:?}, shown only now:",
                token.name().as_str()
            );
            println!("  {text}");
            println!("  curl -H 'Authorization: Bearer {text}' {base}/v1/groups");
        }
    }
    let served = serve(listener, api.router(), tls, signal()).await;
    recovery.abort();
    if let Some(follow) = follow {
        follow.abort();
    }
    served.map_err(|e| Failure::io("io_error", format!("serving stopped: {e}")))?;
    Ok(0)
}

/// Completes what a crash or an unavailable environment left pending, and takes over the
/// jobs whose server stopped: at start, then once a lease.
async fn recover_every_lease(api: Api) {
    let dps = api.provisioner().acting_as(
        "recovery"
            .parse()
            .unwrap_or_else(|_| unreachable!("`recovery` is a valid actor")),
    );
    let mut tick = tokio::time::interval(dps.config().lease);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = dps.recover().await {
            tracing::warn!(error = %e, "recovery failed; it runs again after the next lease");
        }
        match api.resume_jobs().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "took over the jobs of a stopped server"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the jobs; trying again after the next lease")
            }
        }
    }
}

/// How often `dps serve` reads its key file again.
const KEY_FILE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the key file every few seconds, so that the server seals with the current key and
/// opens what a rotation made elsewhere resealed.
async fn follow_key_file(keys: LiveKeyFile) {
    let mut tick = tokio::time::interval(KEY_FILE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match keys.refresh() {
            Ok(true) => tracing::info!(
                current = ?keys.keys().current_id(),
                "the key file changed; sealing with its current key"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the key file; keeping the keys"),
        }
    }
}

/// Logs to stderr at the level of `DPS_LOG` (`error`, `warn`, `info` (the default), `debug`
/// or `trace`).
fn init_logging() {
    let level = match std::env::var("DPS_LOG").as_deref() {
        Ok("error") => tracing::Level::ERROR,
        Ok("warn") => tracing::Level::WARN,
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
