//! `dps device bootstrap`: act as the device.

use dps_core::{
    bootstrap::BootstrapAnswer, bootstrap::BootstrapClaims, inject::Clock, inject::SystemClock,
};

use crate::CliResult;
use crate::cli::BootstrapArgs;
use crate::context::{Dps, resolve_group};
use crate::output::{BootstrapView, print_json};

/// Derives the device's bootstrap key, signs a request as the device and bootstraps it.
pub(crate) async fn run(dps: &Dps, args: BootstrapArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    let mut claims = BootstrapClaims::new(
        g.id(),
        args.serial.parse()?,
        SystemClock.now().unix_seconds(),
    );
    if let Some(n) = &args.name {
        claims = claims.with_name(n.parse()?);
    }
    if let Some(tz) = &args.timezone {
        claims = claims.with_timezone(tz.parse()?);
    }
    let request = dps.sign_as_device(claims).await?;
    let answer = dps.bootstrap(&request).await?;
    if json {
        print_json(&BootstrapView::from(&answer))?;
    } else {
        print_human(&answer);
    }
    Ok(0)
}

fn print_human(answer: &BootstrapAnswer) {
    println!("target        {}", answer.target);
    if let Some(m) = &answer.endpoints.mqtt {
        println!("mqtt          {m}");
    }
    if let Some(h) = &answer.endpoints.http {
        println!("http          {h}");
    }
    println!("asset id      {}", answer.asset_id);
    println!("product key   {}", answer.credentials.product_key);
    println!("device key    {}", answer.credentials.device_key);
    println!(
        "device secret {}",
        answer.credentials.device_secret.expose()
    );
    println!("allocated now {}", answer.allocated_now);
}
