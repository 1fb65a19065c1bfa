//! Command-line arguments, as close to the flags as possible (validated in the commands).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// kando: stream application data into a deduplicated, compressed, encrypted repository
/// (a drop-in for Kanister's kando).
#[derive(Parser, Debug)]
#[command(name = "kando", version, about, long_about = None)]
pub struct Cli {
    /// Log level: error, warn, info, debug or trace (logs go to stderr).
    #[arg(short = 'v', long = "verbosity", global = true, default_value = "warn", env = "KANDO_LOG")]
    pub verbosity: String,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Push, pull and delete streams in the location a Kanister profile names.
    Location {
        #[command(subcommand)]
        cmd: LocationCmd,
    },
    /// Print a Kanister phase output: `###Phase-output###: {"key":KEY,"value":VALUE}`.
    Output {
        /// Output name ([a-zA-Z0-9_]+).
        key: String,
        /// Value (a string).
        value: String,
    },
    /// Work with a repository directly: create it, list snapshots, show sizes.
    Repository {
        #[command(subcommand)]
        cmd: RepoCmd,
    },
}

/// Where the repository is and how to unlock it.
#[derive(Args, Debug, Clone)]
pub struct RepoArgs {
    /// Kanister profile JSON, as rendered by '{{ toJson .Profile }}'. For local disk or NFS:
    /// '{"Location":{"Type":"filestore","Prefix":"/backups/repo"}}'.
    #[arg(short = 'p', long, env = "KANDO_PROFILE", conflicts_with = "repo")]
    pub profile: Option<String>,
    /// Instead of a profile: a repository directory (local disk or NFS), or a URL
    /// s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX whose credentials
    /// and endpoint come from the standard AWS_*, GOOGLE_* or AZURE_* variables.
    #[arg(long, env = "KANDO_REPOSITORY", value_name = "DIR|URL")]
    pub repo: Option<String>,
    /// File holding the repository password (else $KANDO_REPOSITORY_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// How to show progress on stderr.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// Always a bar.
    Bar,
    /// One line of text every few seconds.
    Plain,
    /// One JSON object per line every few seconds.
    Json,
    /// `###Phase-progress###: {json}` lines every 2 s (`KANDO_PROGRESS_INTERVAL` seconds), for
    /// the Kanister controller, which reads them from pod logs and writes the bytes moved into
    /// the ActionSet's progress. The controller sets `KANDO_PROGRESS=kanister` in its pods.
    Kanister,
    /// Nothing.
    None,
}

#[derive(Subcommand, Debug)]
pub enum LocationCmd {
    /// Store a stream (a file, or '-' for stdin) as a snapshot named by --path.
    ///
    /// The first push to an empty location creates the repository. The snapshot is
    /// committed only if the whole stream was read: use --from-command so that a failing
    /// producer (for example pg_dump) commits nothing; a plain pipe cannot report it.
    Push {
        #[command(flatten)]
        repo: RepoArgs,
        /// Snapshot path inside the repository.
        #[arg(short = 's', long)]
        path: String,
        /// Name of the phase output printed on success (JSON with id and sizes).
        #[arg(short = 'o', long, default_value = "kandoOutput")]
        output_name: String,
        /// Run this shell command and store its stdout; commit only if it exits 0. When it
        /// fails, what it wrote is kept without a snapshot, and the next push of the same
        /// --path (for at least 30 minutes) reuses it instead of storing it again.
        #[arg(long, value_name = "CMD", conflicts_with = "source")]
        from_command: Option<String>,
        /// Tag to record with the snapshot (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Packs uploaded at once (each holds a ~16 MiB buffer; object stores may like 4).
        #[arg(long, env = "KANDO_UPLOADS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
        uploads: u16,
        /// Skip automatic maintenance after this command even if the repository's schedule
        /// says it is due (see 'kando repository maintenance --help'). The variable takes 1/0,
        /// true/false, yes/no.
        #[arg(long, env = "KANDO_NO_AUTO_MAINTENANCE", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        no_auto_maintenance: bool,
        /// Progress display on stderr.
        #[arg(long, value_enum, env = "KANDO_PROGRESS", default_value = "auto")]
        progress: ProgressMode,
        /// Source file, or '-' for stdin.
        #[arg(required_unless_present = "from_command")]
        source: Option<String>,
    },
    /// Write the latest snapshot of --path (or --snapshot) to a file, or '-' for stdout.
    ///
    /// Every chunk is authenticated (AES-GCM) and checked against its keyed BLAKE3 id before it
    /// is written, and the chunk list comes from tree nodes checked the same way from the
    /// snapshot's root, so the stream is proven to be the one pushed; its length is checked at
    /// the end. A file target is written under a temporary name and renamed only when complete.
    Pull {
        #[command(flatten)]
        repo: RepoArgs,
        /// Snapshot path inside the repository.
        #[arg(short = 's', long)]
        path: String,
        /// A specific snapshot: its id (or an unambiguous prefix of at least 6 characters), or
        /// the JSON push printed as its phase output (`{"id":…}`, e.g. kept in an artifact).
        #[arg(long)]
        snapshot: Option<String>,
        /// Fetch threads, each with one ranged read in flight (0: twice the cores, at least 4).
        #[arg(long, env = "KANDO_DOWNLOADS", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=256))]
        downloads: u16,
        /// Also recompute the BLAKE3 of the whole stream and compare it with the one recorded
        /// at push time: an end-to-end check on top of the per-chunk checks (~15% more CPU).
        #[arg(long, env = "KANDO_VERIFY_STREAM")]
        verify_stream: bool,
        /// Progress display on stderr.
        #[arg(long, value_enum, env = "KANDO_PROGRESS", default_value = "auto")]
        progress: ProgressMode,
        /// Target file, or '-' for stdout.
        target: String,
    },
    /// Remove every snapshot of --path (or only --snapshot). Space is reclaimed by garbage
    /// collection.
    Delete {
        #[command(flatten)]
        repo: RepoArgs,
        /// Snapshot path inside the repository.
        #[arg(short = 's', long)]
        path: String,
        /// Only this snapshot of the path: its id (or a prefix of at least 6 characters), or the
        /// JSON push printed as its phase output.
        #[arg(long)]
        snapshot: Option<String>,
        /// Skip automatic maintenance after this command even if the repository's schedule
        /// says it is due (see 'kando repository maintenance --help'). The variable takes 1/0,
        /// true/false, yes/no.
        #[arg(long, env = "KANDO_NO_AUTO_MAINTENANCE", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        no_auto_maintenance: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RepoCmd {
    /// Create a repository (push does this on first use).
    Init {
        #[command(flatten)]
        repo: RepoArgs,
        /// Average chunk size in bytes (min = avg/2, max = avg*8).
        #[arg(long, default_value_t = 8192)]
        avg_chunk: u32,
        /// zstd level for data (0 stores raw). Default: level 2 with the double-fast match
        /// finder and larger tables (hash 2^18, chain 2^14), ~2.5% smaller than plain level 2.
        #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-7..=22))]
        level: Option<i32>,
        /// Pack size target in MiB.
        #[arg(long, default_value_t = 16)]
        pack_mib: u32,
        /// argon2id memory for this password's key object, in MiB. Raise it (with
        /// --kdf-passes) for a weak password; every kando command pays the cost once.
        #[arg(long, default_value_t = 19, value_parser = clap::value_parser!(u32).range(1..=4096))]
        kdf_memory_mib: u32,
        /// argon2id passes over that memory.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
        kdf_passes: u32,
        /// argon2id lanes; each runs on its own thread.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
        kdf_lanes: u32,
    },
    /// List snapshots, oldest first.
    Snapshots {
        #[command(flatten)]
        repo: RepoArgs,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Add, list, remove or change passwords (key objects).
    Key {
        #[command(flatten)]
        repo: RepoArgs,
        #[command(subcommand)]
        cmd: crate::repo_cmds::KeyCmd,
    },
    /// Check that every snapshot is complete and, with --read-data, that every stored byte
    /// decrypts and hashes to its id. Exits non-zero on any problem.
    Verify(crate::repo_cmds::VerifyArgs),
    /// Rebuild the index from the packs; optionally rewrite snapshots that lost data.
    Repair(crate::repo_cmds::RepairArgs),
    /// Remove snapshots by id, path or retention policy (data is reclaimed by gc).
    Forget(crate::repo_cmds::ForgetArgs),
    /// Reclaim the space of packs no snapshot needs, safely beside running pushes.
    Gc(crate::repo_cmds::GcArgs),
    /// Repack sparse and small packs and merge index objects.
    Compact(crate::repo_cmds::CompactArgs),
    /// Show or change the automatic maintenance schedule, or run maintenance now.
    Maintenance(crate::repo_cmds::MaintenanceArgs),
    /// Show what the repository stores: sizes, deduplication and compression ratios, live and
    /// dead bytes, totals per snapshot path.
    Stats {
        #[command(flatten)]
        repo: RepoArgs,
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Progress display on stderr (stats walks every snapshot's tree).
        #[arg(long, value_enum, env = "KANDO_PROGRESS", default_value = "auto")]
        progress: ProgressMode,
    },
}
