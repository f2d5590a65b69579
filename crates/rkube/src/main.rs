//! `rkube`: Kubernetes in one binary. This crate is only CLI, configuration, wiring and
//! process lifecycle; the work happens in the library crates.

mod agent;
mod crictl;
mod datadir;
mod fakeopts;
mod killall;
mod kubeconfig;
mod kubelet_server;
mod node_agent;
mod pki;
mod server;
mod token;
mod tools;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rkube",
    version,
    about = "Kubernetes in one binary",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole cluster on this machine: API server, store, scheduler, controllers and
    /// (unless --disable-agent) the node agent
    Server(Box<server::ServerArgs>),
    /// Join a server as a node agent: a real node (kubelet on containerd, service proxy,
    /// host-gw pod routes) or, with --fake-nodes, fake nodes
    Agent(Box<agent::AgentArgs>),
    /// Import or list the node's container images (offline installs)
    Image(tools::ImageArgs),
    /// Node-level debugging against the node's CRI socket (ps, pods, images, inspect, logs,
    /// exec, stats, info), like crictl
    Crictl(crictl::CrictlArgs),
    /// Service proxy maintenance: `rkube proxy --cleanup` removes its nftables rules
    Proxy(tools::ProxyArgs),
    /// After the server or agent stopped: stop its pods for good and remove its network setup
    /// (pod bridge, routes, proxy rules) and mounts, keeping the data (like k3s-killall.sh)
    Killall(killall::KillallArgs),
    /// Print the rkube version and the Kubernetes version it serves
    Version,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RKUBE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hickory_server=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Version => {
            println!(
                "rkube version v{} (Kubernetes {})",
                env!("CARGO_PKG_VERSION"),
                rkube_apiserver::discovery::GIT_VERSION
            );
            Ok(())
        }
        Command::Server(args) => server::run(*args),
        Command::Agent(args) => agent::run(*args),
        Command::Image(args) => tools::image(args),
        Command::Crictl(args) => crictl::run(args),
        Command::Proxy(args) => tools::proxy(args),
        Command::Killall(args) => killall::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rkube: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
