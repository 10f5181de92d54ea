//! Streams a generated device file of N rows (default 1 000 000) through the importer without
//! ever holding the file: `parse` reads and validates every row with `DeviceReader`, `import`
//! runs a dry-run upsert through the Provisioner over the in-memory store (chunks of 10 000
//! rows planned against the store, nothing written, so that the store does not grow).
//!
//! ```text
//! /usr/bin/time -v cargo run --release -p dps-csv --example stream_import -- import 1000000
//! ```
#![allow(clippy::print_stdout)]

use std::io::{self, Read};
use std::sync::Arc;

use dps::attribute::{AttributeDef, AttributeSchema, AttributeType};
use dps::csv::{DeviceReader, ImportOptions, Limits, import_with};
use dps::inject::OsSecrets;
use dps::memory::InMemoryStore;
use dps::{NewGroup, Provisioner, StaticConfig, StaticEnvironment};

/// A device file generated as it is read.
struct Generated {
    next: usize,
    rows: usize,
    pending: Vec<u8>,
    at: usize,
}

impl Generated {
    fn new(rows: usize) -> Self {
        let header = b"Device Serial No.,Device Name,Model ID,Timezone,Batch Tag,Description,Environment,OU,floor\r\n";
        Self {
            next: 0,
            rows,
            pending: header.to_vec(),
            at: 0,
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Write;
        while self.at == self.pending.len() {
            if self.next == self.rows {
                return Ok(0);
            }
            self.pending.clear();
            self.at = 0;
            for i in self.next..(self.next + 1000).min(self.rows) {
                let description = if i % 10 == 0 { "spare unit" } else { "" };
                write!(
                    self.pending,
                    "SN-{i:08},Sensor {i},thermo-2,+01:00,lot-{},{description},,,{}\r\n",
                    i / 1000,
                    i % 40
                )?;
            }
            self.next = (self.next + 1000).min(self.rows);
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn schema() -> Result<AttributeSchema, Box<dyn std::error::Error>> {
    Ok(AttributeSchema::new(vec![AttributeDef::new(
        "floor".parse()?,
        AttributeType::Integer,
    )])?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("import", String::as_str);
    let rows: usize = args.get(1).map_or(Ok(1_000_000), |s| s.parse())?;
    let start = std::time::Instant::now();
    match mode {
        "parse" => {
            let reader = DeviceReader::new(Generated::new(rows), &schema()?, Limits::unbounded())?;
            let mut ok = 0u64;
            for row in reader {
                if row?.is_ok() {
                    ok += 1;
                }
            }
            println!("parsed {ok} valid rows of {rows} in {:?}", start.elapsed());
        }
        _ => {
            let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(OsSecrets));
            let dps = Provisioner::new(Arc::new(InMemoryStore::new()), env)
                .with_keys(dps::seal::Keys::ephemeral());
            let mut settings = NewGroup::new("stream".parse()?);
            settings.attributes = schema()?;
            let group = dps.create_group(settings).await?;
            let options = ImportOptions::default()
                .upsert()
                .dry_run()
                .with_limits(Limits::unbounded());
            let summary =
                import_with(&dps, group.id(), Generated::new(rows), &options, |_| {}).await?;
            println!(
                "planned {} creates of {} rows in {:?}",
                summary.created,
                summary.rows,
                start.elapsed()
            );
        }
    }
    Ok(())
}
