//! Running `rkube server` as a child process: spawn, wait until ready, RSS, stop.

use crate::client::{Api, JSON};
use anyhow::{bail, Context, Result};
use hyper::Method;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Options shared by every subcommand that runs the server.
#[derive(clap::Args, Clone, Debug)]
pub struct ServerOpts {
    /// The rkube binary (default: target/release/rkube of this workspace)
    #[arg(long, global = true)]
    pub rkube_bin: Option<PathBuf>,
}

impl ServerOpts {
    /// The rkube binary, which must exist.
    pub fn binary(&self) -> Result<PathBuf> {
        let candidates: Vec<PathBuf> = match &self.rkube_bin {
            Some(p) => vec![p.clone()],
            None => vec![
                PathBuf::from("target/release/rkube"),
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/rkube"),
            ],
        };
        for c in &candidates {
            if c.is_file() {
                return Ok(c.canonicalize().unwrap_or_else(|_| c.clone()));
            }
        }
        bail!(
            "rkube binary not found (looked at {}): build it first with `cargo build --release -p rkube`, or pass --rkube-bin PATH",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    }
}

/// A free loopback port (the listener is closed again, so there is a small race).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(l.local_addr()?.port())
}

/// How long the server took to get ready, from just before spawn.
#[derive(Clone, Copy, Debug)]
pub struct Startup {
    /// The kubeconfig file exists (it is written atomically).
    pub kubeconfig: Duration,
    /// `/readyz` answered 200.
    pub readyz: Duration,
}

impl Startup {
    pub fn both(&self) -> Duration {
        self.kubeconfig.max(self.readyz)
    }
}

/// A running `rkube server --disable-agent`; stopped (SIGTERM, then SIGKILL) on drop.
pub struct RkubeServer {
    child: Child,
    pub data_dir: PathBuf,
    pub port: u16,
    log: PathBuf,
    started: Instant,
}

impl RkubeServer {
    /// Spawn the server on `data_dir` (created by the server if missing). Its stderr goes to
    /// `log`.
    pub fn spawn(
        bin: &Path,
        data_dir: &Path,
        log: &Path,
        datastore_endpoint: Option<&str>,
    ) -> Result<RkubeServer> {
        RkubeServer::spawn_with(bin, data_dir, log, datastore_endpoint, &[])
    }

    /// As [`RkubeServer::spawn`], with further `rkube server` arguments.
    pub fn spawn_with(
        bin: &Path,
        data_dir: &Path,
        log: &Path,
        datastore_endpoint: Option<&str>,
        extra: &[String],
    ) -> Result<RkubeServer> {
        RkubeServer::spawn_full(bin, data_dir, log, datastore_endpoint, extra, false)
    }

    /// As [`RkubeServer::spawn_with`]; `agent` keeps the node agent (real containers).
    pub fn spawn_full(
        bin: &Path,
        data_dir: &Path,
        log: &Path,
        datastore_endpoint: Option<&str>,
        extra: &[String],
        agent: bool,
    ) -> Result<RkubeServer> {
        let port = free_port()?;
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("open {}", log.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg("server");
        if !agent {
            cmd.arg("--disable-agent");
        }
        cmd.arg("--data-dir")
            .arg(data_dir)
            .arg("--bind-address")
            .arg("127.0.0.1")
            .arg("--https-listen-port")
            .arg(port.to_string());
        if let Some(ep) = datastore_endpoint {
            cmd.arg("--datastore-endpoint").arg(ep);
        }
        cmd.args(extra);
        cmd.stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        Ok(RkubeServer {
            child,
            data_dir: data_dir.to_path_buf(),
            port,
            log: log.to_path_buf(),
            started,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("kubeconfig.yaml")
    }

    /// The end of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Poll (every ~1 ms) until the kubeconfig exists and `/readyz` answers 200.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Startup> {
        let kubeconfig = self.kubeconfig();
        let probe = Api::insecure(([127, 0, 0, 1], self.port).into());
        let (mut kc, mut ready) = (None, None);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "rkube server exited with {status} before it was ready; its log:\n{}",
                    self.log_tail()
                );
            }
            if kc.is_none() && kubeconfig.exists() {
                kc = Some(self.started.elapsed());
            }
            if ready.is_none() && readyz(&probe).await {
                ready = Some(self.started.elapsed());
            }
            if let (Some(kubeconfig), Some(readyz)) = (kc, ready) {
                return Ok(Startup { kubeconfig, readyz });
            }
            if self.started.elapsed() > timeout {
                bail!(
                    "rkube server not ready after {timeout:?} (kubeconfig written: {}, /readyz ok: {}); its log:\n{}",
                    kc.is_some(),
                    ready.is_some(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// (VmRSS, VmHWM) in KiB.
    pub fn rss(&self) -> Result<(u64, u64)> {
        rss_of(self.pid())
    }

    /// SIGTERM, wait up to 10 s, then SIGKILL. Returns how long the shutdown took.
    pub fn stop(&mut self) -> Result<Duration> {
        let t = Instant::now();
        if self.child.try_wait()?.is_some() {
            return Ok(Duration::ZERO);
        }
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        while t.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait()?.is_some() {
                return Ok(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("rkube server did not stop within 10 s of SIGTERM (killed)")
    }
}

impl Drop for RkubeServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

async fn readyz(api: &Api) -> bool {
    let attempt = async {
        let mut c = api.connect().await?;
        let (status, _) = c.call(Method::GET, "/readyz", JSON, None).await?;
        Ok::<_, anyhow::Error>(status.is_success())
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Ok(true))
    )
}

/// (VmRSS, VmHWM) of a process in KiB, from /proc/PID/status.
pub fn rss_of(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("parse {line}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}
