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
    /// Build a small OCI image (an OCI-layout tarball) from Debian's busybox-static, offline:
    /// for tests and air-gapped clusters (push it with skopeo, or put it in the images folder)
    Build {
        /// Image reference, e.g. `registry.example/demo/sleeper:1.0`
        #[arg(long)]
        name: String,
        /// ENTRYPOINT, one argument per flag
        #[arg(long = "entrypoint", allow_hyphen_values = true)]
        entrypoint: Vec<String>,
        /// CMD, one argument per flag (default: sh)
        #[arg(long = "cmd", allow_hyphen_values = true)]
        cmd: Vec<String>,
        /// Environment, KEY=value, one per flag
        #[arg(long = "env")]
        env: Vec<String>,
        /// Where to write the tarball
        output: PathBuf,
    },
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
    if let ImageCmd::Build {
        name,
        entrypoint,
        cmd,
        env,
        output,
    } = &args.cmd
    {
        let busybox = rkube_kubelet::images::find_busybox().context("find busybox")?;
        let image = rkube_kubelet::images::BusyboxImage {
            name: name.clone(),
            entrypoint: entrypoint.clone(),
            cmd: if cmd.is_empty() && entrypoint.is_empty() {
                vec!["sh".into()]
            } else {
                cmd.clone()
            },
            env: env.clone(),
        };
        rkube_kubelet::images::build_busybox_image(&busybox, &image, output)
            .with_context(|| format!("build {}", output.display()))?;
        println!("wrote {name} to {}", output.display());
        return Ok(());
    }
    runtime()?.block_on(async {
        match args.cmd {
            ImageCmd::Build { .. } => unreachable!("handled above"),
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
