//! `msgin5g`: the MSGin5G Gateway UE aggregator, Relay UE and reference MSGin5G Server.
//!
//! ```text
//! msgin5g server  [--listen ADDR] [--config-listen ADDR] [--provisioning FILE] [--metrics ADDR]
//!                 [--psk-file FILE] [--coaps-listen ADDR] [--config FILE]
//! msgin5g gateway [--listen ADDR] [--upstream [coap[s]://]ADDR] [--shards N] [--metrics ADDR]
//!                 [--config-listen ADDR] [--config-upstream ADDR] [--data-dir DIR | --in-memory]
//!                 [--psk-file FILE] [--coaps-listen ADDR] [--config FILE] [overrides]
//! msgin5g relay   [--listen ADDR] [--config-listen ADDR] [--upstream ADDR]
//!                 [--config-upstream ADDR] [--coaps-listen ADDR] [--coaps-upstream ADDR]
//!                 [--metrics ADDR] [--data-dir DIR | --in-memory] [--config FILE]
//! msgin5g print-config
//! ```
//!
//! Flags override the file; the merged configuration is validated once (exit code 2 with the
//! offending field on error). Ctrl-C (or SIGTERM) drains the gateway, then stops the server.

use clap::{Args, Parser, Subcommand};
use msgin5g::config::{AnswerModeSetting, Config, RelaySection, UpstreamAddr, EXAMPLE_TOML};
use msgin5g::dtls::PskTable;
use msgin5g::gateway::summary::Summary;
use msgin5g::gateway::GatewayDb;
use msgin5g::metrics::{KernelMetrics, MetricsServer, Registry, Source};
use msgin5g::net::{
    spawn_config_server, spawn_gateway_persistent, spawn_relay_with, spawn_server,
    spawn_server_with, BindError, ConfigServerHandle, ServerHandle,
};
use msgin5g::relay::RelayDb;
use msgin5g::server::ServerDb;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// mimalloc instead of glibc's allocator: under twice a shard's capacity `perf` showed glibc's
/// slow paths (`_int_malloc`, `malloc_consolidate`, `unlink_chunk`) at 16 % of the shard's
/// samples (8 % below capacity), the answers' buffers outgrowing its per-thread cache
/// (README "Failure behaviour").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "msgin5g",
    version,
    about = "MSGin5G Gateway UE aggregator, Relay UE and reference server over CoAP/UDP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the reference MSGin5G Server.
    Server(ServerArgs),
    /// Run the Gateway UE aggregator (with an in-process server when no upstream is given).
    Gateway(GatewayArgs),
    /// Run the Relay UE (a transparent Layer-3 UE-to-Network relay for CoAP).
    Relay(RelayArgs),
    /// Print a commented configuration file with every key and its default.
    PrintConfig,
}

#[derive(Args)]
struct ServerArgs {
    /// UDP address to listen on [config: server.listen, default 0.0.0.0:5683].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// UDP address of the configuration server [config: server.config_listen, default
    /// 0.0.0.0:65401].
    #[arg(long, value_name = "ADDR")]
    config_listen: Option<SocketAddr>,
    /// Provisioning file (TOML) of the configuration server [config: server.provisioning].
    #[arg(long, value_name = "FILE")]
    provisioning: Option<PathBuf>,
    /// PSK file (TOML) of the coaps listener; without it no coaps listener runs [config:
    /// server.psk_file].
    #[arg(long, value_name = "FILE")]
    psk_file: Option<PathBuf>,
    /// coaps (DTLS) address, used with --psk-file [config: server.coaps_listen, default
    /// 0.0.0.0:5684].
    #[arg(long, value_name = "ADDR")]
    coaps_listen: Option<SocketAddr>,
    /// Serve Prometheus metrics at http://ADDR/metrics [config: server.metrics_listen].
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Directory of the persistent state (registrations, stored messages) [config:
    /// server.data_dir, default msgin5g-data/server].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep the state in memory only (same as server.data_dir = "").
    #[arg(long, conflicts_with = "data_dir")]
    in_memory: bool,
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct GatewayArgs {
    /// Device-facing UDP address [config: gateway.listen, default 0.0.0.0:5683].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// MSGin5G Server address: HOST:PORT, coap://HOST:PORT or coaps://HOST:PORT (DTLS, with
    /// gateway.upstream_psk_identity and a key); without it the reference server runs
    /// in-process.
    #[arg(long, value_name = "ADDR")]
    upstream: Option<UpstreamAddr>,
    /// PSK file (TOML) of the device-facing coaps listener; without it no coaps listener runs
    /// [config: gateway.psk_file].
    #[arg(long, value_name = "FILE")]
    psk_file: Option<PathBuf>,
    /// Device-facing coaps (DTLS) address, used with --psk-file [config: gateway.coaps_listen,
    /// default 0.0.0.0:5684].
    #[arg(long, value_name = "ADDR")]
    coaps_listen: Option<SocketAddr>,
    /// Device-facing configuration UDP address [config: gateway.config_listen, default
    /// 0.0.0.0:65401].
    #[arg(long, value_name = "ADDR")]
    config_listen: Option<SocketAddr>,
    /// Configuration management server [config: gateway.config_upstream; default: the embedded
    /// server's, else the upstream host on port 65401].
    #[arg(long, value_name = "ADDR")]
    config_upstream: Option<SocketAddr>,
    /// Number of shards [default: number of CPUs].
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    /// Serve Prometheus metrics at http://ADDR/metrics [config: gateway.metrics_listen].
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Longest a non-urgent request waits for batching, in ms.
    #[arg(long, value_name = "N")]
    hold_time_ms: Option<u64>,
    /// Most entries in one bulk.
    #[arg(long, value_name = "N")]
    max_batch_entries: Option<usize>,
    /// Most bytes of one bulk's JSON payload.
    #[arg(long, value_name = "N")]
    max_bulk_bytes: Option<usize>,
    /// How long a CON's ACK is held hoping to piggyback the answer, in ms.
    #[arg(long, value_name = "N")]
    piggyback_window_ms: Option<u64>,
    /// How devices get their answer.
    #[arg(long, value_enum, value_name = "MODE")]
    answer_mode: Option<AnswerModeSetting>,
    /// Directory of the gateway's persistent state (application registrations, UE directory,
    /// report routes, unanswered requests) [config: gateway.data_dir, default
    /// msgin5g-data/gateway].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep the gateway's state in memory only (same as gateway.data_dir = "").
    #[arg(long, conflicts_with = "data_dir")]
    in_memory: bool,
}

#[derive(Args)]
struct RelayArgs {
    /// Device-facing messaging address [config: relay.listen, default 0.0.0.0:5683].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Device-facing configuration address [config: relay.config_listen, default 0.0.0.0:65401].
    #[arg(long, value_name = "ADDR")]
    config_listen: Option<SocketAddr>,
    /// MSGin5G Server address; without it the reference server runs in-process.
    #[arg(long, value_name = "ADDR")]
    upstream: Option<SocketAddr>,
    /// Configuration server address [default: the upstream's host on port 65401].
    #[arg(long, value_name = "ADDR")]
    config_upstream: Option<SocketAddr>,
    /// Device-facing coaps address, passed through to --coaps-upstream undecrypted [config:
    /// relay.coaps_listen, default 0.0.0.0:5684].
    #[arg(long, value_name = "ADDR")]
    coaps_listen: Option<SocketAddr>,
    /// The MSGin5G Server's coaps address; without it no coaps passthrough [config:
    /// relay.coaps_upstream].
    #[arg(long, value_name = "ADDR")]
    coaps_upstream: Option<SocketAddr>,
    /// Serve Prometheus metrics at http://ADDR/metrics [config: relay.metrics_listen].
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Directory of the persistent link table [config: relay.data_dir, default
    /// msgin5g-data/relay].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep the links in memory only (same as relay.data_dir = "").
    #[arg(long, conflicts_with = "data_dir")]
    in_memory: bool,
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Exit code for an invalid configuration (same as clap's usage errors).
const EXIT_CONFIG: u8 = 2;
/// Exit code for a runtime failure (bind error, thread failure).
const EXIT_RUNTIME: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::PrintConfig = cli.command {
        print!("{EXAMPLE_TOML}");
        return ExitCode::SUCCESS;
    }
    init_logging();
    let result = match cli.command {
        Command::Server(args) => {
            let config = match load_config(args.config.as_ref(), |config| {
                if let Some(listen) = args.listen {
                    config.server.listen = listen;
                }
                if let Some(config_listen) = args.config_listen {
                    config.server.config_listen = config_listen;
                }
                if let Some(provisioning) = &args.provisioning {
                    config.server.provisioning = Some(provisioning.clone());
                }
                if let Some(psk_file) = &args.psk_file {
                    config.server.psk_file = Some(psk_file.clone());
                }
                if let Some(coaps_listen) = args.coaps_listen {
                    config.server.coaps_listen = coaps_listen;
                }
                if let Some(metrics) = args.metrics {
                    config.server.metrics_listen = Some(metrics);
                }
                if let Some(data_dir) = &args.data_dir {
                    config.server.data_dir = data_dir.clone();
                }
                if args.in_memory {
                    config.server.data_dir = PathBuf::new();
                }
            }) {
                Ok(config) => config,
                Err(code) => return code,
            };
            // The provisioning file is read (and checked) before anything starts.
            let config_server = match config.config_server_config() {
                Ok(config_server) => config_server,
                Err(error) => return config_error(error),
            };
            // So is the PSK file (coaps listener).
            let psk = match config.server.psk_table() {
                Ok(psk) => psk,
                Err(error) => return config_error(error),
            };
            // The store is opened (and its directory created) before anything starts.
            let db = match config.server_data_dir().map(ServerDb::open).transpose() {
                Ok(db) => db,
                Err(error) => {
                    eprintln!(
                        "msgin5g: invalid configuration: server.data_dir ({}): {error}",
                        config.server.data_dir.display()
                    );
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            run_server(&config, config_server, psk, db).map_err(|e| {
                name_setting(
                    e,
                    &[
                        ("server.listen", config.server.listen),
                        ("server.config_listen", config.server.config_listen),
                        ("server.coaps_listen", config.server.coaps_listen),
                    ],
                )
            })
        }
        Command::Gateway(args) => {
            let config = match load_config(args.config.as_ref(), |config| {
                apply_gateway_flags(config, &args)
            }) {
                Ok(config) => config,
                Err(code) => return code,
            };
            // The embedded configuration server (no upstream, no config upstream) reads the
            // provisioning file before anything starts.
            let embedded_config =
                if config.gateway.upstream.is_none() && config.gateway.config_upstream.is_none() {
                    match config.config_server_config() {
                        Ok(config_server) => Some(config_server),
                        Err(error) => return config_error(error),
                    }
                } else {
                    None
                };
            // The PSK file (coaps listener) is read (and checked) before anything starts.
            let psk = match config.gateway.psk_table() {
                Ok(psk) => psk,
                Err(error) => return config_error(error),
            };
            // The store is opened (and its directory created) before anything starts.
            let db = match config.gateway_data_dir().map(GatewayDb::open).transpose() {
                Ok(db) => db,
                Err(error) => {
                    eprintln!(
                        "msgin5g: invalid configuration: gateway.data_dir ({}): {error}",
                        config.gateway.data_dir.display()
                    );
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            run_gateway(&config, embedded_config, psk, db).map_err(|e| {
                name_setting(
                    e,
                    &[
                        ("gateway.listen", config.gateway.listen),
                        ("gateway.config_listen", config.gateway.config_listen),
                        ("gateway.coaps_listen", config.gateway.coaps_listen),
                    ],
                )
            })
        }
        Command::Relay(args) => {
            let config = match load_config(args.config.as_ref(), |config| {
                apply_relay_flags(config, &args)
            }) {
                Ok(config) => config,
                Err(code) => return code,
            };
            // Without an upstream the embedded servers run: the provisioning file is read (and
            // checked) before anything starts.
            let config_server = if config.relay.upstream.is_none() {
                match config.config_server_config() {
                    Ok(config_server) => Some(config_server),
                    Err(error) => return config_error(error),
                }
            } else {
                None
            };
            // The link table is opened (and its directory created) before anything starts.
            let db = match config.relay.data_dir().map(RelayDb::open).transpose() {
                Ok(db) => db,
                Err(error) => {
                    eprintln!(
                        "msgin5g: invalid configuration: relay.data_dir ({}): {error}",
                        config.relay.data_dir.display()
                    );
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            run_relay(&config, config_server, db).map_err(|e| {
                name_setting(
                    e,
                    &[
                        ("relay.listen", config.relay.listen),
                        ("relay.config_listen", config.relay.config_listen),
                        ("relay.coaps_listen", config.relay.coaps_listen),
                    ],
                )
            })
        }
        Command::PrintConfig => unreachable!("handled above"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Printed once (not also logged): a bind error names the address and its setting.
            eprintln!("msgin5g: {error}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: log files and journald get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

/// Load the file (or the defaults), apply the flags, validate; on error print it and give the
/// exit code.
fn load_config(
    path: Option<&PathBuf>,
    overrides: impl FnOnce(&mut Config),
) -> Result<Config, ExitCode> {
    let loaded = match path {
        Some(path) => Config::load(path),
        None => Ok(Config::default()),
    };
    let mut config = loaded.map_err(config_error)?;
    overrides(&mut config);
    config.validate().map_err(config_error)?;
    Ok(config)
}

fn config_error(error: msgin5g::config::ConfigError) -> ExitCode {
    eprintln!("msgin5g: invalid configuration: {error}");
    ExitCode::from(EXIT_CONFIG)
}

fn apply_gateway_flags(config: &mut Config, args: &GatewayArgs) {
    let g = &mut config.gateway;
    if let Some(listen) = args.listen {
        g.listen = listen;
    }
    if let Some(upstream) = args.upstream {
        g.upstream = Some(upstream);
    }
    if let Some(psk_file) = &args.psk_file {
        g.psk_file = Some(psk_file.clone());
    }
    if let Some(addr) = args.coaps_listen {
        g.coaps_listen = addr;
    }
    if let Some(addr) = args.config_listen {
        g.config_listen = addr;
    }
    if let Some(addr) = args.config_upstream {
        g.config_upstream = Some(addr);
    }
    if let Some(shards) = args.shards {
        g.shards = Some(shards);
    }
    if let Some(metrics) = args.metrics {
        g.metrics_listen = Some(metrics);
    }
    if let Some(hold_time_ms) = args.hold_time_ms {
        g.hold_time_ms = hold_time_ms;
    }
    if let Some(max_batch_entries) = args.max_batch_entries {
        g.max_batch_entries = max_batch_entries;
    }
    if let Some(max_bulk_bytes) = args.max_bulk_bytes {
        g.max_bulk_bytes = max_bulk_bytes;
    }
    if let Some(piggyback_window_ms) = args.piggyback_window_ms {
        g.piggyback_window_ms = piggyback_window_ms;
    }
    if let Some(answer_mode) = args.answer_mode {
        g.answer_mode = answer_mode;
    }
    if let Some(data_dir) = &args.data_dir {
        g.data_dir = data_dir.clone();
    }
    if args.in_memory {
        g.data_dir = PathBuf::new();
    }
}

fn apply_relay_flags(config: &mut Config, args: &RelayArgs) {
    let r = &mut config.relay;
    if let Some(listen) = args.listen {
        r.listen = listen;
    }
    if let Some(config_listen) = args.config_listen {
        r.config_listen = config_listen;
    }
    if let Some(upstream) = args.upstream {
        r.upstream = Some(upstream);
    }
    if let Some(config_upstream) = args.config_upstream {
        r.config_upstream = Some(config_upstream);
    }
    if let Some(coaps_listen) = args.coaps_listen {
        r.coaps_listen = coaps_listen;
    }
    if let Some(coaps_upstream) = args.coaps_upstream {
        r.coaps_upstream = Some(coaps_upstream);
    }
    if let Some(metrics) = args.metrics {
        r.metrics_listen = Some(metrics);
    }
    if let Some(data_dir) = &args.data_dir {
        r.data_dir = data_dir.clone();
    }
    if args.in_memory {
        r.data_dir = PathBuf::new();
    }
}

/// Bind the metrics listener (if configured) before starting what it observes: a bad address
/// fails the start, and early scrapes wait in the accept queue.
/// Bind the metrics listener of setting `field`, if one is configured.
fn bind_metrics(
    field: &str,
    addr: Option<SocketAddr>,
) -> std::io::Result<Option<std::net::TcpListener>> {
    addr.map(|a| {
        msgin5g::metrics::bind_listener(a, msgin5g::metrics::BIND_RETRY).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot bind {a} (TCP, {field}): {e}"))
        })
    })
    .transpose()
}

/// Name the setting of a UDP bind failure ([`BindError`]): `cannot bind ADDR (FIELD): reason`.
/// Other errors pass unchanged.
fn name_setting(error: std::io::Error, settings: &[(&str, SocketAddr)]) -> std::io::Error {
    let named = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<BindError>())
        .and_then(|bind| {
            let (field, _) = settings.iter().find(|(_, addr)| *addr == bind.addr)?;
            Some(format!(
                "cannot bind {} (UDP, {field}): {}",
                bind.addr, bind.reason
            ))
        });
    match named {
        Some(message) => std::io::Error::new(error.kind(), message),
        None => error,
    }
}

/// The reference server's configuration, with the per-UE credentials of the provisioning file
/// the configuration server read (24.538 §6.3.1.2.2), when there is one.
fn server_config(
    config: &Config,
    provisioning: Option<&msgin5g::server::ConfigServerConfig>,
) -> msgin5g::server::ServerConfig {
    let mut server = config.server_config();
    if let Some(p) = provisioning {
        server.policy.ue_credentials = p.provisioning.ue_credentials();
        server.messaging.ue_segment_sizes = p.provisioning.ue_segment_sizes();
    }
    server
}

fn run_server(
    config: &Config,
    config_server: msgin5g::server::ConfigServerConfig,
    psk: Option<Arc<PskTable>>,
    db: Option<ServerDb>,
) -> std::io::Result<()> {
    let metrics_listener = bind_metrics("server.metrics_listen", config.server.metrics_listen)?;
    if db.is_none() {
        tracing::info!("server.data_dir is empty: state kept in memory only");
    }
    let mut core_config = server_config(config, Some(&config_server));
    core_config.psk = psk;
    let server = spawn_server_with(config.server.listen, core_config, db)?;
    tracing::info!(
        public_address = %config_server.public_address,
        provisioned = config_server.provisioning.len(),
        auto_provision = config_server.provisioning.auto_provision(),
        "configuration server"
    );
    let configuration = spawn_config_server(config.server.config_listen, config_server)?;
    let metrics = metrics_listener
        .map(|listener| {
            let registry = Registry::new()
                .with(server.metrics())
                .with(configuration.metrics())
                .with(KernelMetrics::new());
            MetricsServer::spawn_on(listener, registry)
        })
        .transpose()?;
    signal_runtime()?.block_on(shutdown_signal());
    tracing::info!("shutting down the server");
    configuration.shutdown()?;
    server.shutdown()?;
    drop(metrics);
    Ok(())
}

fn run_gateway(
    config: &Config,
    embedded_config: Option<msgin5g::server::ConfigServerConfig>,
    psk: Option<Arc<PskTable>>,
    db: Option<GatewayDb>,
) -> std::io::Result<()> {
    let metrics_listener = bind_metrics("gateway.metrics_listen", config.gateway.metrics_listen)?;
    if db.is_none() {
        tracing::info!("gateway.data_dir is empty: gateway state kept in memory only");
    }
    let server_config = server_config(config, embedded_config.as_ref());
    // Without an upstream the devices' configuration GETs go to an embedded configuration
    // server (24.538 §6.2.1), like their registrations to the embedded reference server.
    let configuration = embedded_config
        .map(|c| spawn_config_server(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), c))
        .transpose()?;
    let mut gateway_config = config.gateway_config();
    gateway_config.psk = psk;
    if let Some(configuration) = &configuration {
        let addr = configuration.local_addr();
        tracing::info!(%addr, "no upstream given: embedded configuration server");
        gateway_config.config_upstream = Some(addr);
    }
    let (server, upstream) = upstream_or_embedded(config.gateway.upstream_addr(), server_config)?;
    let gateway = spawn_gateway_persistent(
        config.gateway.listen,
        upstream,
        config.gateway_shards(),
        gateway_config,
        config.drain_timeout(),
        config.socket_options(),
        db,
    )?;
    // One endpoint for the process: the gateway, the embedded server if any, the kernel's drops.
    let metrics = serve_metrics(metrics_listener, gateway.metrics(), &server, &configuration)?;
    let runtime = signal_runtime()?;
    let shards = gateway.stats();
    runtime.block_on(summaries_until_signal(config.summary_interval(), &shards));
    tracing::info!(
        drain_timeout = ?config.drain_timeout(),
        "draining the gateway (signal again to exit at once)"
    );
    runtime.block_on(async {
        let mut drain = tokio::task::spawn_blocking(move || gateway.shutdown());
        tokio::select! {
            joined = &mut drain => match joined {
                Ok(result) => result.map(drop),
                Err(error) => Err(std::io::Error::other(error)),
            },
            _ = shutdown_signal() => {
                tracing::warn!("second signal: exiting without waiting for the drain");
                std::process::exit(130);
            }
        }
    })?;
    if let Some(server) = server {
        tracing::info!("stopping the embedded server");
        server.shutdown()?;
    }
    if let Some(configuration) = configuration {
        configuration.shutdown()?;
    }
    // Scrapable through the drain; stopped last.
    drop(metrics);
    Summary::log_totals(&shards);
    tracing::info!("bye");
    Ok(())
}

fn run_relay(
    config: &Config,
    config_server: Option<msgin5g::server::ConfigServerConfig>,
    db: Option<RelayDb>,
) -> std::io::Result<()> {
    let r = &config.relay;
    if db.is_none() {
        tracing::info!("relay.data_dir is empty: links kept in memory only");
    }
    let metrics_listener = bind_metrics("relay.metrics_listen", r.metrics_listen)?;
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    // No upstream: the reference server and its configuration server run in-process (the
    // configuration server unless a configuration upstream is given).
    let (server, upstream) =
        upstream_or_embedded(r.upstream, server_config(config, config_server.as_ref()))?;
    let configuration = match (r.config_upstream, config_server) {
        (None, Some(mut config_server)) => {
            if config.server.public_address.is_none() {
                config_server.public_address =
                    format!("coap://{upstream}/{}", config.server.uri_path);
            }
            let configuration = spawn_config_server(loopback, config_server)?;
            tracing::info!(
                config_upstream = %configuration.local_addr(),
                "embedded configuration server"
            );
            Some(configuration)
        }
        _ => None,
    };
    let config_upstream = match (&configuration, r.config_upstream) {
        (Some(configuration), _) => configuration.local_addr(),
        (None, Some(config_upstream)) => config_upstream,
        (None, None) => RelaySection::default_config_upstream(upstream),
    };
    let relay = spawn_relay_with(
        r.listen,
        r.config_listen,
        r.relay_config(upstream, config_upstream, config.transmission_params()),
        db,
    )?;
    let metrics = serve_metrics(metrics_listener, relay.metrics(), &server, &configuration)?;
    signal_runtime()?.block_on(shutdown_signal());
    tracing::info!("shutting down the relay");
    relay.shutdown()?;
    if let Some(configuration) = configuration {
        configuration.shutdown()?;
    }
    if let Some(server) = server {
        server.shutdown()?;
    }
    drop(metrics);
    Ok(())
}

/// The `upstream` given, or else an embedded reference server on loopback (any port) and its
/// address.
fn upstream_or_embedded(
    upstream: Option<SocketAddr>,
    server_config: msgin5g::server::ServerConfig,
) -> std::io::Result<(Option<ServerHandle>, SocketAddr)> {
    if let Some(upstream) = upstream {
        return Ok((None, upstream));
    }
    let server = spawn_server(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), server_config)?;
    let upstream = server.local_addr();
    tracing::info!(%upstream, "no upstream given: embedded reference server");
    Ok((Some(server), upstream))
}

/// One metrics endpoint for the process, when `listener` is given: `main` (the gateway or the
/// relay), the embedded servers if any, the kernel's drops.
fn serve_metrics(
    listener: Option<std::net::TcpListener>,
    main: impl Source,
    server: &Option<ServerHandle>,
    configuration: &Option<ConfigServerHandle>,
) -> std::io::Result<Option<MetricsServer>> {
    listener
        .map(|listener| {
            let mut registry = Registry::new().with(main);
            if let Some(server) = server {
                registry = registry.with(server.metrics());
            }
            if let Some(configuration) = configuration {
                registry = registry.with(configuration.metrics());
            }
            MetricsServer::spawn_on(listener, registry.with(KernelMetrics::new()))
        })
        .transpose()
}

/// A small runtime for the main thread: it only waits for signals and the drain.
fn signal_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Wait for the shutdown signal, logging the gateway's activity summary every `interval`
/// meanwhile (issue 10 §4; none when `None`).
async fn summaries_until_signal(
    interval: Option<std::time::Duration>,
    shards: &[std::sync::Arc<msgin5g::gateway::GatewayStats>],
) {
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let Some(every) = interval else {
        return signal.await;
    };
    let mut summary = Summary::default();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut signal => return,
            _ = tick.tick() => {
                summary.log_interval(shards);
            }
        }
    }
}

/// Complete on Ctrl-C (or SIGTERM on Unix).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
                return;
            }
            Err(error) => tracing::warn!(%error, "cannot listen for SIGTERM"),
        }
    }
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::error!(%error, "cannot listen for Ctrl-C; stopping");
    }
}
