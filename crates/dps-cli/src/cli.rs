//! The command line: every command, its flags and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Device provisioning: registration groups, devices, allocation, CSV and QR labels.
#[derive(Debug, Parser)]
#[command(name = "dps", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The database: a SQLite file path, or a postgres:// URL.
    #[arg(
        long,
        global = true,
        env = "DPS_DATABASE_URL",
        default_value = "./dps.sqlite"
    )]
    pub(crate) db: String,

    /// The targets file (TOML) of the static environment.
    #[arg(
        long,
        global = true,
        env = "DPS_TARGETS",
        default_value = "./dps-targets.toml"
    )]
    pub(crate) targets: PathBuf,

    /// The key file that seals the database's secrets (default: beside a SQLite file,
    /// `<file>.keys`, created with a new key when the database has no sealed secret yet).
    #[arg(long, global = true, env = "DPS_KEY_FILE")]
    pub(crate) key_file: Option<PathBuf>,

    /// Print exactly one JSON document on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the whole lifecycle in a fresh directory and show each step.
    Demo {
        /// The directory to work in (default: a new temporary directory, kept afterwards).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The targets (environment/OU) devices can be allocated to.
    #[command(subcommand)]
    Targets(TargetsCommand),
    /// Registration groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Devices of a group.
    #[command(subcommand)]
    Device(Box<DeviceCommand>),
    /// Complete the operations that a crash or an unavailable environment left pending.
    Recover {
        /// Wait for the leases that other drivers still hold to run out, showing a
        /// countdown, then complete those devices too.
        #[arg(long)]
        wait: bool,
    },
    /// Serve the HTTP API: the management API under /v1 and the device-facing bootstrap call.
    Serve(ServeArgs),
    /// Access tokens of the HTTP API.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The keys that seal the database's secrets.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read the event log.
    Events {
        /// Only events after this cursor.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// `dps keys`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Each key of the key file, and how many stored secrets it seals.
    List,
    /// Add a new key to the key file and seal every secret again with it, a page at a time.
    /// A rotation that stops half-way leaves every secret sealed with the old key or the new
    /// one; running this again finishes it. Then it says which old keys may be deleted.
    Rotate {
        /// How many records one commit reseals.
        #[arg(long, default_value_t = 1000)]
        page_size: usize,
    },
    /// Seal every secret that the current key does not seal (secrets of an older key, or in
    /// clear from an earlier release) with it, a page at a time, without adding a key.
    Reseal {
        /// How many records one commit reseals.
        #[arg(long, default_value_t = 1000)]
        page_size: usize,
    },
    /// Delete an old key from the key file, once it seals no secret any more.
    Delete {
        /// The key's identifier, as `dps keys list` shows it.
        key: String,
    },
}

/// `dps serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,
    /// A PEM file with the TLS certificate chain (with --tls-key: serve HTTPS).
    #[arg(long, requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// A PEM file with the TLS private key.
    #[arg(long, requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// How long, in seconds, a pending operation or a running job stays with this server
    /// without word from it before another server (or this one, restarted) takes it over.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) lease: u64,
    /// The most devices a batch runs in its request; a larger selection runs as a job that
    /// the answer (and the console) points to.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub(crate) job_threshold: u64,
}

/// The role of a token.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    /// Reads groups, devices and events, without secrets.
    Viewer,
    /// Also changes groups and devices.
    Operator,
    /// Also reads device secrets.
    Admin,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token; its text is printed once and never stored.
    Create {
        /// The token's name, which the events of its requests record as their actor.
        #[arg(long)]
        name: String,
        /// What the token may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Limit the token to this group (ID or unique name); repeat for more. Without it,
        /// the token reaches every group.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Let the token import files beyond the console's limits (2 MB, 1000 records), as
        /// an admin's may.
        #[arg(long)]
        bulk_import: bool,
    },
    /// Revoke a token: every server sharing the database refuses it from then on.
    Revoke {
        /// The token's name.
        name: String,
    },
    /// List the tokens (their names, roles and groups; never their text).
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TargetsCommand {
    /// Write an example targets file.
    Init {
        /// Where to write it (default: the --targets path).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// List the configured targets.
    List,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ModelTypeArg {
    Public,
    Private,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ReprovisionArg {
    Migrate,
    Initialize,
    Disabled,
}

/// The settings of `group create` and `group edit`.
#[derive(Debug, Args)]
pub(crate) struct GroupSettings {
    /// The default target's environment (with --ou).
    #[arg(long, requires = "ou")]
    pub(crate) environment: Option<String>,
    /// The default target's OU (with --environment).
    #[arg(long, requires = "environment")]
    pub(crate) ou: Option<String>,
    /// Public or private device model.
    #[arg(long, value_enum)]
    pub(crate) model_type: Option<ModelTypeArg>,
    /// What resetting a device does.
    #[arg(long, value_enum)]
    pub(crate) reprovision: Option<ReprovisionArg>,
    /// Allocate a device at its first bootstrap.
    #[arg(long)]
    pub(crate) auto_activation: bool,
    #[arg(
        long = "attribute",
        value_name = "SPEC",
        help = "A schema attribute: ID:TYPE[:required][=DEFAULT], TYPE one of integer, date, \
                string, string/MAXLEN, enum/ITEM/ITEM/...; repeat for more (replaces the schema \
                on edit)"
    )]
    pub(crate) attributes: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// Create a group.
    Create {
        /// The group's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        settings: GroupSettings,
    },
    /// List groups.
    List,
    /// Show a group.
    Show {
        /// A group ID or a unique group name.
        group: String,
    },
    /// Change a group's settings.
    Edit {
        /// A group ID or a unique group name.
        group: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        settings: GroupSettings,
        /// Turn auto-activation off.
        #[arg(long, conflicts_with = "auto_activation")]
        no_auto_activation: bool,
        /// Remove the default target.
        #[arg(long, conflicts_with_all = ["environment", "ou"])]
        clear_target: bool,
    },
    /// Delete a group.
    Delete {
        /// A group ID or a unique group name.
        group: String,
        /// Delete its devices too (allocated ones are offboarded first).
        #[arg(long)]
        cascade: bool,
    },
    /// Issue a new group secret; the old one keeps verifying bootstraps for a grace period.
    RotateSecret {
        /// A group ID or a unique group name.
        group: String,
        /// Stop accepting the old secret at once.
        #[arg(long)]
        immediate: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum StatusArg {
    NotAllocated,
    Pending,
    Allocated,
}

/// Filters on a group's devices.
#[derive(Debug, Args, Default)]
pub(crate) struct Filters {
    /// Only devices with this allocation status.
    #[arg(long, value_enum)]
    pub(crate) status: Option<StatusArg>,
    /// Only devices with this batch tag.
    #[arg(long)]
    pub(crate) batch_tag: Option<String>,
    /// Only devices of this model.
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// Only devices whose serial starts with this.
    #[arg(long)]
    pub(crate) serial_prefix: Option<String>,
}

/// Which devices a batch command takes: serials, --all, or filters.
#[derive(Debug, Args)]
pub(crate) struct SelectionArgs {
    /// Device serial numbers.
    pub(crate) serials: Vec<String>,
    /// Every device of the group.
    #[arg(long, conflicts_with_all = ["serials", "status", "batch_tag", "model", "serial_prefix"])]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) filters: Filters,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub(crate) enum ImportModeArg {
    /// Create new devices only; an existing serial is refused.
    #[default]
    Create,
    /// Create new devices and update existing ones.
    Upsert,
    /// Update existing devices only; an unknown serial is refused (for an edited export).
    Update,
}

/// The format of a device file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FileFormatArg {
    /// CSV, UTF-8.
    Csv,
    /// An Excel workbook, every cell text.
    Xlsx,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub(crate) enum ImageFormatArg {
    /// A ZIP of PNG images, each with the serial and the model under the code.
    #[default]
    Png,
    /// A ZIP of SVG images.
    Svg,
    /// A PDF label sheet: a grid of labels a page, ready to print.
    Pdf,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub(crate) enum PaperArg {
    /// ISO A4, 210 × 297 mm.
    #[default]
    A4,
    /// US Letter, 8.5 × 11 in.
    Letter,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeviceCommand {
    /// Write the group's import template (CSV or XLSX).
    Template(TemplateArgs),
    /// Import devices from a CSV or XLSX file.
    Import(ImportArgs),
    /// Register devices with generated serial numbers.
    Generate(GenerateArgs),
    /// List devices.
    List(ListArgs),
    /// Show a device.
    Show(ShowArgs),
    /// Edit a device's fields (all but the serial).
    Edit(EditArgs),
    /// Export devices to a CSV or XLSX file.
    Export(ExportArgs),
    /// Write the devices' QR labels into a ZIP file, or onto a PDF label sheet.
    Qr(QrArgs),
    /// Allocate devices to their targets.
    Allocate(BatchArgs),
    /// Reset devices' allocation.
    Reset(BatchArgs),
    /// Delete devices (allocated ones are offboarded first).
    Delete(BatchArgs),
    /// Act as the device: derive its bootstrap key, sign a request and bootstrap it.
    Bootstrap(BootstrapArgs),
    /// Replace a device's hardware: new serial, same asset, new key and secret.
    Replace(ReplaceArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TemplateArgs {
    #[arg(long)]
    pub(crate) group: String,
    /// Where to write it (default: stdout, CSV only).
    #[arg(short = 'o', long = "output")]
    pub(crate) output: Option<PathBuf>,
    /// The file format (default: xlsx when the output ends in .xlsx, else csv).
    #[arg(long, value_enum)]
    pub(crate) format: Option<FileFormatArg>,
    /// Leave the UTF-8 byte order mark out of a CSV file.
    #[arg(long)]
    pub(crate) no_bom: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[arg(long)]
    pub(crate) group: String,
    /// The CSV or XLSX file.
    pub(crate) file: PathBuf,
    /// The file format (default: xlsx for a .xlsx name or a ZIP file, else csv).
    #[arg(long, value_enum)]
    pub(crate) format: Option<FileFormatArg>,
    /// Create new devices only, also update existing ones, or update existing ones only.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) mode: ImportModeArg,
    /// Check and plan every row without writing anything.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Import nothing if any row is refused.
    #[arg(long)]
    pub(crate) all_or_nothing: bool,
    /// Lift the upload limits (2 MiB, 1000 records); the per-field cap stays.
    #[arg(long)]
    pub(crate) no_limits: bool,
    /// Write the refused rows as a CSV error report here.
    #[arg(long)]
    pub(crate) errors: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    #[arg(long)]
    pub(crate) group: String,
    /// How many.
    #[arg(long)]
    pub(crate) count: usize,
    /// Their model.
    #[arg(long)]
    pub(crate) model: String,
    /// Their batch tag.
    #[arg(long)]
    pub(crate) batch_tag: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[arg(long)]
    pub(crate) group: String,
    #[command(flatten)]
    pub(crate) filters: Filters,
    /// At most this many devices.
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// Continue after this cursor (the previous page's next_cursor).
    #[arg(long)]
    pub(crate) cursor: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[arg(long)]
    pub(crate) group: String,
    pub(crate) serial: String,
}

#[derive(Debug, Args)]
pub(crate) struct EditArgs {
    #[arg(long)]
    pub(crate) group: String,
    pub(crate) serial: String,
    #[arg(long)]
    pub(crate) name: Option<String>,
    #[arg(long)]
    pub(crate) model: Option<String>,
    #[arg(long)]
    pub(crate) timezone: Option<String>,
    #[arg(long)]
    pub(crate) batch_tag: Option<String>,
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// The device's own target environment (with --ou).
    #[arg(long, requires = "ou")]
    pub(crate) environment: Option<String>,
    /// The device's own target OU (with --environment).
    #[arg(long, requires = "environment")]
    pub(crate) ou: Option<String>,
    /// Use the group's default target again.
    #[arg(long, conflicts_with_all = ["environment", "ou"])]
    pub(crate) clear_target: bool,
    /// An attribute value, ID=VALUE (an empty VALUE removes it); repeat for more.
    #[arg(long = "attr", value_name = "ID=VALUE")]
    pub(crate) attrs: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[arg(long)]
    pub(crate) group: String,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// The CSV or XLSX file to write.
    #[arg(short = 'o', long = "output")]
    pub(crate) output: PathBuf,
    /// The file format (default: xlsx when the output ends in .xlsx, else csv).
    #[arg(long, value_enum)]
    pub(crate) format: Option<FileFormatArg>,
    /// Leave the UTF-8 byte order mark out of a CSV file (spreadsheets need it to read
    /// non-ASCII text).
    #[arg(long)]
    pub(crate) no_bom: bool,
    /// Include the device secrets.
    #[arg(long)]
    pub(crate) include_secrets: bool,
    /// Include each device's bootstrap key, for flashing at the factory.
    #[arg(long)]
    pub(crate) include_bootstrap_keys: bool,
}

#[derive(Debug, Args)]
pub(crate) struct QrArgs {
    #[arg(long)]
    pub(crate) group: String,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// The file to write: a ZIP of images, or a PDF with `--format pdf`.
    #[arg(short = 'o', long = "output")]
    pub(crate) output: PathBuf,
    /// Label format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: ImageFormatArg,
    /// The paper of a PDF label sheet (3 × 7 labels a page).
    #[arg(long, value_enum, default_value_t)]
    pub(crate) paper: PaperArg,
}

// The group and the devices of `allocate`, `reset` and `delete`.
#[derive(Debug, Args)]
pub(crate) struct BatchArgs {
    #[arg(long)]
    pub(crate) group: String,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BootstrapArgs {
    #[arg(long)]
    pub(crate) group: String,
    pub(crate) serial: String,
    /// The device name to report on first contact.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// The timezone (±HH:MM) to report on first contact.
    #[arg(long)]
    pub(crate) timezone: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ReplaceArgs {
    #[arg(long)]
    pub(crate) group: String,
    pub(crate) serial: String,
    /// The new hardware's serial.
    #[arg(
        long,
        required_unless_present = "generate",
        conflicts_with = "generate"
    )]
    pub(crate) new_serial: Option<String>,
    /// Generate the new serial.
    #[arg(long)]
    pub(crate) generate: bool,
    /// The batch tag of the new registration.
    #[arg(long)]
    pub(crate) batch_tag: String,
    /// The device's new description.
    #[arg(long)]
    pub(crate) description: Option<String>,
}
