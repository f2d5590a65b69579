//! `rkube agent`: joins a node agent to a server. Before sending its token's secret, the agent
//! fetches the server's CA from `/cacerts` and checks it against the hash in the token; every
//! later request trusts only that CA. For now the agent runs fake nodes (`--fake-nodes N`);
//! the real kubelet comes with the node-agent work.

use anyhow::{bail, Context, Result};
use std::time::Duration;

use crate::token::{sha256_hex, JoinToken};

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// URL of the server's API, e.g. https://10.0.0.1:6443
    #[arg(long, env = "RKUBE_URL")]
    server: String,
    /// Join token (the server's DATA_DIR/token)
    #[arg(long, env = "RKUBE_TOKEN")]
    token: String,
    #[command(flatten)]
    fake: crate::fakeopts::FakeNodeArgs,
}

pub fn run(args: AgentArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start tokio runtime")?;
    rt.block_on(serve(args))
}

/// The server's CA certificate (PEM), checked against the token's hash when it has one.
async fn fetch_ca(url: &http::Uri, token: &JoinToken) -> Result<String> {
    let mut cfg = kube::Config::new(url.clone());
    cfg.accept_invalid_certs = true;
    cfg.connect_timeout = Some(Duration::from_secs(10));
    let client = kube::Client::try_from(cfg).context("build bootstrap client")?;
    let req = http::Request::get("/cacerts")
        .body(Vec::new())
        .context("build /cacerts request")?;
    let pem = client
        .request_text(req)
        .await
        .with_context(|| format!("fetch {url}/cacerts"))?;
    if let Some(want) = &token.ca_hash {
        let got = sha256_hex(pem.as_bytes());
        if &got != want {
            bail!("server CA hash {got} does not match the token's {want}: refusing to send the token");
        }
    }
    Ok(pem)
}

/// A client trusting only `ca_pem` and sending the token's secret.
pub fn client_for(url: &http::Uri, ca_pem: &str, secret: &str) -> Result<kube::Client> {
    let ders = rustls_pemfile::certs(&mut ca_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("parse server CA")?;
    if ders.is_empty() {
        bail!("server sent no CA certificate");
    }
    let mut cfg = kube::Config::new(url.clone());
    cfg.root_cert = Some(ders.into_iter().map(|d| d.to_vec()).collect());
    cfg.auth_info.token = Some(secrecy::SecretString::from(secret.to_string()));
    kube::Client::try_from(cfg).context("build api client")
}

async fn serve(args: AgentArgs) -> Result<()> {
    let url: http::Uri = args
        .server
        .parse()
        .with_context(|| format!("parse --server {}", args.server))?;
    let token = JoinToken::parse(&args.token).context("parse --token")?;
    let Some(fake) = args.fake.config(&crate::server::hostname())? else {
        bail!("the agent needs --fake-nodes N for now (real containers come with the kubelet)");
    };
    if token.ca_hash.is_none() {
        tracing::warn!("token has no CA hash: the server's CA is trusted without a check");
    }
    let ca = fetch_ca(&url, &token).await?;
    let client = client_for(&url, &ca, &token.secret)?;
    client
        .apiserver_version()
        .await
        .with_context(|| format!("reach {url}"))?;
    tracing::info!(server = %url, count = fake.count, "joined; starting fake nodes");
    rkube_kubelet::fake::spawn(client, fake);
    crate::server::wait_for_signal().await?;
    tracing::info!("shutting down");
    Ok(())
}
