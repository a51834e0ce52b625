//! The command line: subcommands and flags (their doc comments are `--help`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use lakegate::config::{Overrides, parse_duration};

/// Serve a Delta data lake to Postgres clients (psql, JDBC, psycopg, BI tools).
///
/// Zones of the lake (bronze, silver, gold, ...) are schemas; every folder with a `_delta_log`
/// inside a zone is a table. Clients are read-only: they run queries and session commands.
///
/// Settings come from, highest first: flags, LAKEGATE_* environment variables, the --config
/// file, built-in defaults.
#[derive(Parser, Debug)]
#[command(name = "lakegate", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    /// Log filter (tracing syntax, e.g. `info`, `lakegate=debug`).
    #[arg(
        long,
        global = true,
        env = "LAKEGATE_LOG",
        default_value = "lakegate=info,deltalake_core=error,warn"
    )]
    pub(crate) log: String,

    /// Log format: `text` (human, for terminals) or `json` (one object per line).
    #[arg(
        long,
        global = true,
        env = "LAKEGATE_LOG_FORMAT",
        default_value = "text"
    )]
    pub(crate) log_format: String,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Serve an existing lake over the Postgres wire protocol.
    Serve(ServeArgs),
    /// Write the built-in demo lake (a streaming platform) and serve it.
    Demo(DemoArgs),
    /// Validate a config file (and plan its views against the lake); prints
    /// `file:line:column: message` and exits 1 on error. With --freshness, prints each
    /// table's and view's freshness against its rule and exits 1 when any is in `error`.
    Check {
        /// The config file to validate.
        #[arg(long, short, env = "LAKEGATE_CONFIG")]
        config: PathBuf,
        /// Also judge every table's freshness (for CI and cron monitors).
        #[arg(long)]
        freshness: bool,
    },
    /// Run the ingestion loop (sources → landing → bronze → silver → gold models) of a config's
    /// `sources:` (landed files, PostgreSQL/MySQL tables read by slice and watermark, HTTP
    /// APIs, Kafka topics read continuously into bronze) and `silver:`; with --once, one pass
    /// (a Kafka topic up to the broker's high watermark) that exits 1 if any slice or gold
    /// model failed (for cron or CI).
    Ingest(IngestArgs),
    /// Load files (.parquet, .csv, .csv.gz, .ndjson) into a Delta table of the lake as one
    /// commit, e.g. `lakegate import --lake ./lake gold.lineitem lineitem.parquet`. The table
    /// is served at the next catalog refresh.
    Import(ImportArgs),
    /// Print a SCRAM-SHA-256 verifier for a user's password, to paste under `users:` in the
    /// config (the password itself is never stored). Reads the password from the terminal
    /// (asked twice), or one line from standard input when it is not a terminal.
    Passwd {
        /// The user name (printed in the YAML line).
        user: String,
    },
}

#[derive(Args, Debug)]
pub(crate) struct IngestArgs {
    /// Config file (YAML) with `lake:`, `sources:` and `silver:`.
    #[arg(long, short, env = "LAKEGATE_CONFIG")]
    pub(crate) config: PathBuf,
    /// One pass, then exit (non-zero if a slice failed).
    #[arg(long)]
    pub(crate) once: bool,
    /// Only this source.
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Only this slice id (backfill).
    #[arg(long)]
    pub(crate) slice: Option<String>,
    /// Re-ingest the selected slices even if the lake says they are current.
    #[arg(long)]
    pub(crate) force: bool,
    /// How long to wait for another writer's lease before giving up, e.g. 30s.
    #[arg(long, default_value = "0s", value_parser = lakegate::config::parse_duration)]
    pub(crate) wait: std::time::Duration,
}

#[derive(Args, Debug)]
pub(crate) struct ImportArgs {
    /// Config file (YAML): its `lake:` and `storage:` options (object-store credentials).
    #[arg(short, long, env = "LAKEGATE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Lake root: a local path or a file://, s3://, az://, abfss:// or gs:// URL; overrides
    /// the config's `lake:`.
    #[arg(long, env = "LAKEGATE_LAKE")]
    pub(crate) lake: Option<String>,
    /// Target table as zone.name, e.g. gold.lineitem.
    pub(crate) table: String,
    /// Input files, all of one format.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Replace the table's content (and schema) instead of appending.
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Partition columns of a new table (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) partition_by: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Config file (YAML); optional when --lake is given.
    #[arg(long, short, env = "LAKEGATE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Lake root: a local path, or a file://, s3://, az://, abfss:// or gs:// URL
    /// (credentials: `storage:` in the config or AWS_*/AZURE_*/GOOGLE_* variables).
    #[arg(long, env = "LAKEGATE_LAKE")]
    pub(crate) lake: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct CommonArgs {
    /// Address to listen on [default: 127.0.0.1:5433]. Only loopback addresses are allowed
    /// until authentication is configured.
    #[arg(long, env = "LAKEGATE_LISTEN")]
    pub(crate) listen: Option<String>,
    /// Folder of view definitions (views/<schema>/<name>.sql).
    #[arg(long, env = "LAKEGATE_VIEWS")]
    pub(crate) views: Option<PathBuf>,
    /// Database name clients connect to [default: lake].
    #[arg(long, env = "LAKEGATE_DATABASE")]
    pub(crate) database: Option<String>,
    /// How often the lake is re-read for new tables and commits, e.g. 500ms, 2s [default: 2s].
    #[arg(long, env = "LAKEGATE_REFRESH_INTERVAL", value_parser = parse_duration)]
    pub(crate) refresh_interval: Option<Duration>,
    /// Serve /health, /ready, /metrics, the status page and the HTTP query API
    /// (POST /v1/query) on this address, e.g. 127.0.0.1:9187 (`http.listen`).
    #[arg(long, env = "LAKEGATE_HTTP")]
    pub(crate) http: Option<String>,
    /// Serve Arrow Flight SQL on this address, e.g. 127.0.0.1:50051 (`flight.listen`).
    #[arg(long, env = "LAKEGATE_FLIGHT")]
    pub(crate) flight: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Where to write the demo lake.
    #[arg(long, default_value = "./demo-lake")]
    pub(crate) dir: PathBuf,
    /// Rewrite the demo lake even if the folder already holds one.
    #[arg(long)]
    pub(crate) fresh: bool,
    /// Only write the lake, do not serve it.
    #[arg(long)]
    pub(crate) no_serve: bool,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

impl CommonArgs {
    pub(crate) fn overrides(&self, lake: Option<String>) -> Overrides {
        Overrides {
            lake,
            listen: self.listen.clone(),
            views: self.views.clone(),
            database: self.database.clone(),
            refresh_interval: self.refresh_interval,
            http: self.http.clone(),
            flight: self.flight.clone(),
        }
    }
}
