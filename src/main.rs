//! The `cec-gateway` command: parse the command line, load the configuration, set up logging,
//! bind, run until SIGTERM or ctrl-c, and turn the outcome into an exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cec_gateway::config::Config;
use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc: fewer cycles per allocation than glibc's malloc on the request path. Built with
/// `no_thp`: with transparent huge pages its arenas were backed by 2 MiB pages, 14 MiB of an
/// idle gateway's 24 MiB RSS (10 MiB without).
#[cfg(not(feature = "count-allocations"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "count-allocations")]
mod alloc_count;
#[cfg(feature = "count-allocations")]
#[global_allocator]
static ALLOCATOR: alloc_count::Counting<mimalloc::MiMalloc> =
    alloc_count::Counting::new(mimalloc::MiMalloc);

#[derive(Parser)]
#[command(
    name = "cec-gateway",
    version,
    about = "Edge gateway for Huawei Cloud CEC web chat"
)]
struct Cli {
    /// Configuration file; relative paths in it resolve against its directory.
    #[arg(long, global = true, default_value = cec_gateway::config::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// Log format: human-readable lines or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Validate the configuration, print a summary, exit 0 (valid) or 1.
    Check {
        /// Also connect to every upstream (DNS, TCP, TLS with the configured trust) and exit 1
        /// when one cannot be reached; a certificate expiring within 14 days only warns.
        #[arg(long)]
        probe: bool,
    },
    /// Print the thirdPartAuthorization for a user, as the gateway would sign it.
    Sign {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        user_id: String,
        #[arg(long)]
        user_name: String,
        #[arg(long)]
        tenant: String,
        /// yyyy-MM-ddTHH:mm:ss.SSSZ (UTC); default now.
        #[arg(long)]
        timestamp: Option<String>,
        /// Also print the payload, authStringPrefix and canonical request.
        #[arg(long)]
        explain: bool,
    },
    /// Mint a Token-mode token (JWT, HS256) for a user.
    Token {
        #[arg(long)]
        user_id: String,
        #[arg(long)]
        user_name: String,
        #[arg(long)]
        tenant: String,
    },
    /// Run the whole flow locally: gateway + mock CEC + sample page, no CEC account needed.
    Demo {
        /// Where the gateway listens.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Lines are batched and written by a background thread; the guard writes what is left.
    let _log_guard = cec_gateway::logging::init(match cli.log_format {
        LogFormat::Human => cec_gateway::logging::Format::Human,
        LogFormat::Json => cec_gateway::logging::Format::Json,
    });
    // The proxy runs on its own worker threads (see `server`); this runtime only waits for
    // signals, and hosts `demo`'s mock CEC and page.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cec-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(cli_main(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cec-gateway: {message}");
            ExitCode::FAILURE
        }
    };
    #[cfg(feature = "count-allocations")]
    eprintln!("cec-gateway: {}", ALLOCATOR.summary());
    code
}

async fn cli_main(cli: Cli) -> Result<(), String> {
    let file = cli.config.display().to_string();
    let load = || Config::load(&cli.config).map_err(|e| e.to_string());
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(load()?, &cli.config).await,
        Command::Check { probe } => {
            let config = load()?;
            print!("{}", cec_gateway::check::summary(&config, &file));
            if probe {
                check_probe(&config).await
            } else {
                Ok(())
            }
        }
        Command::Sign {
            channel,
            user_id,
            user_name,
            tenant,
            timestamp,
            explain,
        } => {
            let fields = cec_gateway::sign::Fields {
                third_user_name: &user_name,
                third_user_id: &user_id,
                tenant_space_id: &tenant,
                channel_config_id: &channel,
            };
            sign(&load()?, &file, &fields, timestamp, explain)
        }
        Command::Token {
            user_id,
            user_name,
            tenant,
        } => token(&load()?, &file, &user_id, &user_name, &tenant),
        Command::Demo { listen } => demo(listen).await,
    }
}

/// `serve`: run until SIGTERM or ctrl-c; reload on SIGHUP (and on file changes with
/// `server.watch_config`).
async fn serve(config: Config, path: &Path) -> Result<(), String> {
    // Before anything else: from here on a SIGHUP reloads instead of ending the process.
    let hangups = hangups();
    let watch = config.server.watch_config;
    let listeners = cec_gateway::Listeners::bind(&config.server)
        .await
        .map_err(|e| e.to_string())?;
    let server = cec_gateway::Server::start(config, listeners).map_err(|e| e.to_string())?;
    let reloads = reload_on_demand(server.reloader(), path.to_owned(), hangups, watch);
    tokio::select! {
        result = server.run_until(shutdown_signal()) => result.map_err(|e| e.to_string()),
        never = reloads => match never {},
    }
}

/// SIGHUP as a stream; `None` where it cannot be had (the process then keeps the default
/// action, which the log says).
fn hangups() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .inspect_err(|e| tracing::error!(error = %e, "cannot listen for SIGHUP: reload is off"))
        .ok()
}

/// Reloads the configuration file on each SIGHUP or (with `watch`) change of the file, one
/// reload at a time: signals that arrive during a reload become one more reload after it.
// A configuration error happens once per reload; its size does not matter.
#[allow(clippy::result_large_err)]
async fn reload_on_demand(
    reloader: cec_gateway::Reloader,
    path: PathBuf,
    mut hangups: Option<tokio::signal::unix::Signal>,
    watch: bool,
) -> std::convert::Infallible {
    let mut watcher = watch
        .then(|| cec_gateway::watch::ConfigWatch::new(&path))
        .transpose()
        .inspect_err(|e| tracing::error!(error = %e, "server.watch_config: not watching"))
        .ok()
        .flatten();
    loop {
        let trigger = tokio::select! {
            Some(()) = async { hangups.as_mut()?.recv().await } => "SIGHUP",
            () = async {
                match watcher.as_mut() {
                    Some(w) => w.changed().await,
                    None => std::future::pending().await,
                }
            } => "configuration file changed",
        };
        tracing::info!(trigger, file = %path.display(), "reloading the configuration");
        if let Err(e) = reloader.reload_with(|| Config::load(&path)).await {
            tracing::error!(error = %e, "reload refused; the running configuration stays in service");
        }
    }
}

/// `check --probe`: one line per upstream; an error when any of them failed.
async fn check_probe(config: &Config) -> Result<(), String> {
    let probes = cec_gateway::probe::probe_all(config).await;
    let (text, failed) = cec_gateway::probe::report(&probes, std::time::SystemTime::now());
    print!("{text}");
    let (tokens, tokens_failed) = cec_gateway::probe::token_lines(config).await;
    print!("{tokens}");
    let store_failed = match cec_gateway::probe::store_line(config).await {
        Some((line, failed)) => {
            println!("{line}");
            failed
        }
        None => false,
    };
    match (failed, store_failed) {
        (0, false) if tokens_failed > 0 => {
            Err(format!("probe: {tokens_failed} token request(s) failed"))
        }
        (0, false) => Ok(()),
        (0, true) => Err("probe: the store did not answer PING".to_owned()),
        _ => Err(format!(
            "probe: {failed} of {} upstreams failed",
            probes.len()
        )),
    }
}

/// `sign`: the `thirdPartAuthorization` for `fields`, as the gateway would send it.
fn sign(
    config: &Config,
    file: &str,
    fields: &cec_gateway::sign::Fields<'_>,
    timestamp: Option<String>,
    explain: bool,
) -> Result<(), String> {
    let signing = config
        .signing
        .as_ref()
        .ok_or(format!("{file}: no [signing] section"))?;
    let channel = fields.channel_config_id;
    let ch = signing.channel(channel).ok_or(format!(
        "{file}: no signing channel with config_id {channel:?}"
    ))?;
    let ts =
        timestamp.unwrap_or_else(|| cec_gateway::sign::timestamp(std::time::SystemTime::now()));
    let signed = cec_gateway::sign::sign("POST", &signing.path, fields, &ch.secret, &ts);
    if explain {
        print!("{}", cec_gateway::sign::explain(&signed));
    } else {
        println!("{}", signed.authorization);
    }
    Ok(())
}

/// `token`: mint a Token-mode token.
fn token(
    config: &Config,
    file: &str,
    user_id: &str,
    user_name: &str,
    tenant: &str,
) -> Result<(), String> {
    let token = config
        .token
        .as_ref()
        .ok_or(format!("{file}: no [token] section"))?;
    let minted = cec_gateway::token::TokenService::new(token).mint(
        user_id,
        user_name,
        tenant,
        std::time::SystemTime::now(),
    );
    println!("{}", minted.token);
    Ok(())
}

async fn demo(listen: std::net::SocketAddr) -> Result<(), String> {
    let options = cec_gateway::demo::DemoOptions {
        listen,
        ..Default::default()
    };
    let demo = cec_gateway::demo::start(options, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", cec_gateway::demo::banner(&demo));
    demo.wait().await.map_err(|e| e.to_string())
}

/// Completes on SIGTERM or ctrl-c (SIGINT).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("ctrl-c: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}
