//! Test helpers shared with the bench harness and end-to-end tests: a throwaway etcd server.
//!
//! [`EtcdProcess::start`] runs `/usr/bin/etcd` (Debian package `etcd-server`, or `$ETCD_BIN`)
//! as a child process on free loopback ports with a temporary data directory, waits until it
//! answers, and kills it and removes the directory on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DEFAULT_ETCD: &str = "/usr/bin/etcd";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running etcd server, stopped on drop.
pub struct EtcdProcess {
    /// Client URL, e.g. `http://127.0.0.1:40123`.
    pub endpoint: String,
    child: Child,
    dir: PathBuf,
}

impl EtcdProcess {
    /// Start etcd and wait until it is healthy.
    ///
    /// # Panics
    /// When etcd is not installed (the message names the `etcd-server` package) or does not
    /// start; use [`EtcdProcess::try_start`] to get the error instead.
    pub fn start() -> EtcdProcess {
        match Self::try_start() {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    /// Start etcd (`$ETCD_BIN`, default `/usr/bin/etcd`) and wait until it is healthy.
    pub fn try_start() -> Result<EtcdProcess, String> {
        let bin =
            std::env::var_os("ETCD_BIN").map_or_else(|| PathBuf::from(DEFAULT_ETCD), PathBuf::from);
        Self::try_start_bin(&bin)
    }

    /// Start the etcd binary at `bin` and wait until it is healthy.
    pub fn try_start_bin(bin: &Path) -> Result<EtcdProcess, String> {
        let bin = bin.to_path_buf();
        if !bin.exists() {
            return Err(format!(
                "etcd binary {} not found: install the Debian package `etcd-server` \
                 (apt-get install etcd-server) or set ETCD_BIN",
                bin.display()
            ));
        }
        let dir = unique_dir()?;
        let result = Self::spawn(&bin, &dir);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    fn spawn(bin: &Path, dir: &Path) -> Result<EtcdProcess, String> {
        let [client_port, peer_port] = free_ports()?;
        let endpoint = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log_path = dir.join("etcd.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("create etcd log: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("create etcd log: {e}"))?;
        let child = Command::new(bin)
            .arg("--name=default")
            .arg(format!("--data-dir={}", dir.join("data").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .arg("--logger=zap")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let mut process = EtcdProcess {
            endpoint,
            child,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!(
                    "etcd exited with {status} before it was ready:\n{log}"
                ));
            }
            if healthy(client_port) {
                tracing::debug!(endpoint = %process.endpoint, "etcd is ready");
                return Ok(process);
            }
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                process.stop();
                return Err(format!(
                    "etcd did not become healthy within {START_TIMEOUT:?}:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The data directory of this server (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique_dir() -> Result<PathBuf, String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "rkube-etcd-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Two distinct free loopback ports (both listeners are held until both are known).
fn free_ports() -> Result<[u16; 2], String> {
    let bind = || TcpListener::bind("127.0.0.1:0").map_err(|e| format!("find a free port: {e}"));
    let (a, b) = (bind()?, bind()?);
    let port = |l: &TcpListener| {
        l.local_addr()
            .map(|a| a.port())
            .map_err(|e| format!("find a free port: {e}"))
    };
    Ok([port(&a)?, port(&b)?])
}

/// Whether etcd's `/health` endpoint reports healthy.
fn healthy(port: u16) -> bool {
    let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
    if conn
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = conn.read_to_string(&mut body);
    body.contains("\"health\":\"true\"")
}
