//! The `lakegate` command: parse flags, load config, start logging, run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use lakegate::config::{Config, Overrides, parse_duration};

/// Serve a Delta data lake to Postgres clients (psql, JDBC, psycopg, BI tools).
///
/// Zones of the lake (bronze, silver, gold, ...) are schemas; every folder with a `_delta_log`
/// inside a zone is a table. Clients are read-only: they run queries and session commands.
///
/// Settings come from, highest first: flags, LAKEGATE_* environment variables, the --config
/// file, built-in defaults.
#[derive(Parser, Debug)]
#[command(name = "lakegate", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log filter (tracing syntax, e.g. `info`, `lakegate=debug`).
    #[arg(
        long,
        global = true,
        env = "LAKEGATE_LOG",
        default_value = "lakegate=info,deltalake_core=error,warn"
    )]
    log: String,

    /// Log format: `text` (human, for terminals) or `json` (one object per line).
    #[arg(
        long,
        global = true,
        env = "LAKEGATE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: String,
}

#[derive(Subcommand, Debug)]
enum Command {
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
struct IngestArgs {
    /// Config file (YAML) with `lake:`, `sources:` and `silver:`.
    #[arg(long, short, env = "LAKEGATE_CONFIG")]
    config: PathBuf,
    /// One pass, then exit (non-zero if a slice failed).
    #[arg(long)]
    once: bool,
    /// Only this source.
    #[arg(long)]
    source: Option<String>,
    /// Only this slice id (backfill).
    #[arg(long)]
    slice: Option<String>,
    /// Re-ingest the selected slices even if the lake says they are current.
    #[arg(long)]
    force: bool,
    /// How long to wait for another writer's lease before giving up, e.g. 30s.
    #[arg(long, default_value = "0s", value_parser = lakegate::config::parse_duration)]
    wait: std::time::Duration,
}

#[derive(Args, Debug)]
struct ImportArgs {
    /// Config file (YAML): its `lake:` and `storage:` options (object-store credentials).
    #[arg(short, long, env = "LAKEGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Lake root: a local path or a file://, s3://, az://, abfss:// or gs:// URL; overrides
    /// the config's `lake:`.
    #[arg(long, env = "LAKEGATE_LAKE")]
    lake: Option<String>,
    /// Target table as zone.name, e.g. gold.lineitem.
    table: String,
    /// Input files, all of one format.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Replace the table's content (and schema) instead of appending.
    #[arg(long)]
    overwrite: bool,
    /// Partition columns of a new table (comma-separated).
    #[arg(long, value_delimiter = ',')]
    partition_by: Vec<String>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Config file (YAML); optional when --lake is given.
    #[arg(long, short, env = "LAKEGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
    /// Lake root: a local path, or a file://, s3://, az://, abfss:// or gs:// URL
    /// (credentials: `storage:` in the config or AWS_*/AZURE_*/GOOGLE_* variables).
    #[arg(long, env = "LAKEGATE_LAKE")]
    lake: Option<String>,
}

#[derive(Args, Debug)]
struct CommonArgs {
    /// Address to listen on [default: 127.0.0.1:5433]. Only loopback addresses are allowed
    /// until authentication is configured.
    #[arg(long, env = "LAKEGATE_LISTEN")]
    listen: Option<String>,
    /// Folder of view definitions (views/<schema>/<name>.sql).
    #[arg(long, env = "LAKEGATE_VIEWS")]
    views: Option<PathBuf>,
    /// Database name clients connect to [default: lake].
    #[arg(long, env = "LAKEGATE_DATABASE")]
    database: Option<String>,
    /// How often the lake is re-read for new tables and commits, e.g. 500ms, 2s [default: 2s].
    #[arg(long, env = "LAKEGATE_REFRESH_INTERVAL", value_parser = parse_duration)]
    refresh_interval: Option<Duration>,
    /// Serve /health, /ready, /metrics, the status page and the HTTP query API
    /// (POST /v1/query) on this address, e.g. 127.0.0.1:9187 (`http.listen`).
    #[arg(long, env = "LAKEGATE_HTTP")]
    http: Option<String>,
    /// Serve Arrow Flight SQL on this address, e.g. 127.0.0.1:50051 (`flight.listen`).
    #[arg(long, env = "LAKEGATE_FLIGHT")]
    flight: Option<String>,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Where to write the demo lake.
    #[arg(long, default_value = "./demo-lake")]
    dir: PathBuf,
    /// Rewrite the demo lake even if the folder already holds one.
    #[arg(long)]
    fresh: bool,
    /// Only write the lake, do not serve it.
    #[arg(long)]
    no_serve: bool,
    #[command(flatten)]
    common: CommonArgs,
}

impl CommonArgs {
    fn overrides(&self, lake: Option<String>) -> Overrides {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    lakegate::telemetry::init_with_format(&cli.log, cli.log_format == "json");
    // Planning and optimizing recurse per level of nesting: the parser's recursion limit (50)
    // bounds the depth, and 16 MiB of stack per worker holds what it admits (2 MiB, tokio's
    // default, overflowed on a sqlsmith query: a process abort, not a panic).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 << 20)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: Failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), lakegate::Error> {
    match command {
        Command::Ingest(args) => {
            let config = Config::load(
                Some(&args.config),
                &Overrides::default(),
                lakegate::CONFIG_CHECKS,
            )?;
            lakegate::server::ingest(
                config,
                lakegate::server::IngestOptions {
                    once: args.once,
                    source: args.source,
                    slice: args.slice,
                    force: args.force,
                    wait: args.wait,
                },
                lakegate::server::shutdown_signal(),
            )
            .await
        }
        Command::Import(args) => {
            let started = std::time::Instant::now();
            let config = Config::load(
                args.config.as_deref(),
                &Overrides {
                    lake: args.lake.clone(),
                    ..Default::default()
                },
                lakegate::CONFIG_CHECKS,
            )?;
            let lake = config.lake.as_deref().ok_or_else(|| {
                lakegate::Error::Startup("import needs --lake or a config with `lake:`".into())
            })?;
            let lake = lakegate::storage::LakeUrl::parse(lake)
                .map_err(|e| lakegate::Error::Startup(e.to_string()))?
                .with_options(&config.storage)
                .map_err(lakegate::Error::Startup)?;
            let done = lakegate::ingest::import::import(
                &lake,
                &args.table,
                &args.files,
                args.overwrite,
                &args.partition_by,
            )
            .await?;
            println!(
                "{}: version {}, {} data file(s), {:.1} s",
                done.table,
                done.version,
                done.files,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Passwd { user } => {
            use std::io::IsTerminal;
            let password = if std::io::stdin().is_terminal() {
                let a = rpassword::prompt_password(format!("password for {user}: "))
                    .map_err(|e| lakegate::Error::Startup(format!("cannot read password: {e}")))?;
                let b = rpassword::prompt_password("again: ")
                    .map_err(|e| lakegate::Error::Startup(format!("cannot read password: {e}")))?;
                if a != b {
                    return Err(lakegate::Error::Startup("passwords differ".into()));
                }
                a
            } else {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| lakegate::Error::Startup(format!("cannot read password: {e}")))?;
                line.trim_end_matches(['\n', '\r']).to_string()
            };
            if password.is_empty() {
                return Err(lakegate::Error::Startup("empty password".into()));
            }
            let verifier = lakegate::auth::Verifier::generate(&password);
            println!("  {user}: {{password: \"{verifier}\"}}");
            Ok(())
        }
        Command::Check {
            config: path,
            freshness,
        } => {
            let config = Config::load(Some(&path), &Overrides::default(), lakegate::CONFIG_CHECKS)?;
            let errors = lakegate::server::check(&config).await?;
            if errors.is_empty() && freshness {
                let statuses = lakegate::server::check_freshness(&config).await?;
                let (report, error) = lakegate::freshness::report(&statuses);
                print!("{report}");
                if error {
                    return Err(lakegate::Error::Startup(
                        "freshness: some tables are in error".into(),
                    ));
                }
                println!("{}: ok", path.display());
                Ok(())
            } else if errors.is_empty() {
                println!("{}: ok", path.display());
                Ok(())
            } else {
                for e in &errors {
                    eprintln!("{e}");
                }
                Err(lakegate::Error::Startup(format!(
                    "{} view(s) failed to plan",
                    errors.len()
                )))
            }
        }
        Command::Serve(args) => {
            let config = Config::load(
                args.config.as_deref(),
                &args.common.overrides(args.lake),
                lakegate::CONFIG_CHECKS,
            )?;
            lakegate::server::serve(config, lakegate::server::shutdown_signal()).await
        }
        Command::Demo(args) => {
            let dir = lakegate::demo::write_demo_lake(&args.dir, args.fresh).await?;
            let mut overrides = args
                .common
                .overrides(Some(dir.to_string_lossy().into_owned()));
            // The repository's views/ folder holds the demo lake's example views.
            if overrides.views.is_none() && std::path::Path::new("views").is_dir() {
                overrides.views = Some(PathBuf::from("views"));
            }
            let config = Config::load(None, &overrides, lakegate::CONFIG_CHECKS)?;
            if args.no_serve {
                println!("demo lake written to {}", dir.display());
                return Ok(());
            }
            lakegate::server::serve(config, lakegate::server::shutdown_signal()).await
        }
    }
}
