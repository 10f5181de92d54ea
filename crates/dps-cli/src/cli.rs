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
    Recover,
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
    #[default]
    Create,
    Upsert,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub(crate) enum ImageFormatArg {
    #[default]
    Png,
    Svg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeviceCommand {
    /// Write the group's CSV import template.
    Template {
        #[arg(long)]
        group: String,
        /// Where to write it (default: stdout).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Import devices from a CSV file.
    Import {
        #[arg(long)]
        group: String,
        /// The CSV file.
        file: PathBuf,
        /// Create new devices only, or also update existing ones.
        #[arg(long, value_enum, default_value_t)]
        mode: ImportModeArg,
        /// Check and plan every row without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// Import nothing if any row is refused.
        #[arg(long)]
        all_or_nothing: bool,
        /// Lift the upload limits (2 MiB, 1000 records); the per-field cap stays.
        #[arg(long)]
        no_limits: bool,
        /// Write the refused rows as a CSV error report here.
        #[arg(long)]
        errors: Option<PathBuf>,
    },
    /// Register devices with generated serial numbers.
    Generate {
        #[arg(long)]
        group: String,
        /// How many.
        #[arg(long)]
        count: usize,
        /// Their model.
        #[arg(long)]
        model: String,
        /// Their batch tag.
        #[arg(long)]
        batch_tag: Option<String>,
    },
    /// List devices.
    List {
        #[arg(long)]
        group: String,
        #[command(flatten)]
        filters: Filters,
        /// At most this many devices.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Continue after this cursor (the previous page's next_cursor).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show a device.
    Show {
        #[arg(long)]
        group: String,
        serial: String,
    },
    /// Edit a device's fields (all but the serial).
    Edit {
        #[arg(long)]
        group: String,
        serial: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        timezone: Option<String>,
        #[arg(long)]
        batch_tag: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// The device's own target environment (with --ou).
        #[arg(long, requires = "ou")]
        environment: Option<String>,
        /// The device's own target OU (with --environment).
        #[arg(long, requires = "environment")]
        ou: Option<String>,
        /// Use the group's default target again.
        #[arg(long, conflicts_with_all = ["environment", "ou"])]
        clear_target: bool,
        /// An attribute value, ID=VALUE (an empty VALUE removes it); repeat for more.
        #[arg(long = "attr", value_name = "ID=VALUE")]
        attrs: Vec<String>,
    },
    /// Export devices to a CSV file.
    Export {
        #[arg(long)]
        group: String,
        #[command(flatten)]
        selection: SelectionArgs,
        /// The CSV file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Include the device secrets.
        #[arg(long)]
        include_secrets: bool,
        /// Include each device's bootstrap key, for flashing at the factory.
        #[arg(long)]
        include_bootstrap_keys: bool,
    },
    /// Write the devices' QR labels into a ZIP file.
    Qr {
        #[arg(long)]
        group: String,
        #[command(flatten)]
        selection: SelectionArgs,
        /// The ZIP file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Label image format.
        #[arg(long, value_enum, default_value_t)]
        format: ImageFormatArg,
    },
    /// Allocate devices to their targets.
    Allocate {
        #[arg(long)]
        group: String,
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Reset devices' allocation.
    Reset {
        #[arg(long)]
        group: String,
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Delete devices (allocated ones are offboarded first).
    Delete {
        #[arg(long)]
        group: String,
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Act as the device: derive its bootstrap key, sign a request and bootstrap it.
    Bootstrap {
        #[arg(long)]
        group: String,
        serial: String,
        /// The device name to report on first contact.
        #[arg(long)]
        name: Option<String>,
        /// The timezone (±HH:MM) to report on first contact.
        #[arg(long)]
        timezone: Option<String>,
    },
    /// Replace a device's hardware: new serial, same asset, new key and secret.
    Replace {
        #[arg(long)]
        group: String,
        serial: String,
        /// The new hardware's serial.
        #[arg(
            long,
            required_unless_present = "generate",
            conflicts_with = "generate"
        )]
        new_serial: Option<String>,
        /// Generate the new serial.
        #[arg(long)]
        generate: bool,
        /// The batch tag of the new registration.
        #[arg(long)]
        batch_tag: String,
        /// The device's new description.
        #[arg(long)]
        description: Option<String>,
    },
}
