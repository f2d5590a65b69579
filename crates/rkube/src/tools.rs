//! Small node-level commands: `rkube image import|ls` (the node's containerd images, for
//! offline installs) and `rkube proxy --cleanup` (remove the service proxy's nftables rules).

use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// The data dir of the server or agent whose containerd to use
    #[arg(long, default_value = "/var/lib/rkube", global = true)]
    data_dir: PathBuf,
    /// Use this CRI endpoint (unix:///path.sock) instead of the data dir's containerd
    #[arg(long, global = true)]
    container_runtime_endpoint: Option<String>,
    #[command(subcommand)]
    cmd: ImageCmd,
}

#[derive(clap::Subcommand, Debug)]
enum ImageCmd {
    /// Import OCI-layout or docker-archive tarballs into the node's containerd
    Import {
        /// Tarballs to import
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the node's images
    Ls,
}

#[derive(clap::Args, Debug)]
pub struct ProxyArgs {
    /// Remove every nftables rule the service proxy made, then exit
    #[arg(long)]
    cleanup: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start tokio runtime")
}

pub fn image(args: ImageArgs) -> Result<()> {
    let endpoint = args
        .container_runtime_endpoint
        .clone()
        .unwrap_or_else(|| rkube_kubelet::agent::default_endpoint(&args.data_dir));
    runtime()?.block_on(async {
        match args.cmd {
            ImageCmd::Import { files } => {
                rkube_kubelet::agent::import_images(&endpoint, &files)
                    .await
                    .context("import images")?;
                for f in &files {
                    println!("imported {}", f.display());
                }
            }
            ImageCmd::Ls => {
                let images = rkube_kubelet::agent::list_images(&endpoint)
                    .await
                    .with_context(|| format!("list images of {endpoint}"))?;
                println!("{:<60} {:<20} {:>10}", "IMAGE", "ID", "SIZE");
                for i in images {
                    let id = i.id.trim_start_matches("sha256:");
                    let id = &id[..id.len().min(13)];
                    let size = format!("{:.1}MB", i.size as f64 / 1e6);
                    for t in i
                        .tags
                        .iter()
                        .chain(i.tags.is_empty().then_some(&String::new()))
                    {
                        println!("{:<60} {:<20} {:>10}", t, id, size);
                    }
                }
            }
        }
        Ok(())
    })
}

pub fn proxy(args: ProxyArgs) -> Result<()> {
    if !args.cleanup {
        anyhow::bail!("the service proxy runs inside `rkube server` and `rkube agent`; use --cleanup to remove its rules");
    }
    rkube_proxy::cleanup().context("remove the service proxy rules")?;
    println!("removed the rkube-proxy nftables table");
    Ok(())
}
