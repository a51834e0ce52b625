//! The `lakegate` command: parse flags (`cli`), start logging, run the subcommand.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command};
use lakegate::config::{Config, Overrides};

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
            let done = lakegate::server::import(
                &config,
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
            let password = read_password(&user)?;
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
                    return Err(lakegate::Error::Failed(
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
                Err(lakegate::Error::Failed(format!(
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

/// A new password: asked twice on a terminal, else the first line of stdin.
fn read_password(user: &str) -> Result<String, lakegate::Error> {
    use std::io::IsTerminal;
    let unreadable =
        |e: std::io::Error| lakegate::Error::Usage(format!("cannot read password: {e}"));
    let password = if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password(format!("password for {user}: ")).map_err(unreadable)?;
        let b = rpassword::prompt_password("again: ").map_err(unreadable)?;
        if a != b {
            return Err(lakegate::Error::Usage("passwords differ".into()));
        }
        a
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(unreadable)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if password.is_empty() {
        return Err(lakegate::Error::Usage("empty password".into()));
    }
    Ok(password)
}
