//! Harness for rkube's end-to-end tests (the tests themselves are in `tests/`).
//!
//! Owns: finding the prebuilt `rkube` binary, starting `rkube server --disable-agent` on a temp
//! data dir and a free loopback port, running the real `kubectl` against it (the dispatcher on
//! PATH, or one versioned `kubectl.1.NN` beside it), raw HTTPS requests through `curl` for the
//! error paths kubectl cannot produce, and small parsers for kubectl's table output.
//!
//! The binary is never built from here: `make test` (or `cargo build -p rkube`) builds it first,
//! and `RKUBE_BIN` overrides where it is looked for. Every wait polls a condition against a
//! deadline; a test never sleeps for a fixed time to let the server "catch up".

use base64::Engine as _;
use serde_json::Value;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

pub mod smoke;

/// How long a server may take to write its kubeconfig and answer `/readyz`.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one kubectl or curl invocation may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// The default deadline for `wait_until` in tests.
pub const WAIT: Duration = Duration::from_secs(60);

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// Locating binaries

/// The `rkube` binary under test: `$RKUBE_BIN`, else the newest of `target/{debug,release}/rkube`.
pub fn rkube_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("RKUBE_BIN") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "RKUBE_BIN={} is not a file", p.display());
            return p;
        }
        let mut candidates = Vec::new();
        for dir in target_dirs() {
            for profile in ["debug", "release"] {
                let p = dir.join(profile).join("rkube");
                if let Ok(meta) = fs::metadata(&p) {
                    if meta.is_file() {
                        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                        candidates.push((mtime, p));
                    }
                }
            }
        }
        candidates.sort();
        match candidates.pop() {
            Some((_, p)) => p,
            None => panic!(
                "the rkube binary was not found under {:?}; build it first with `cargo build -p rkube` \
                 (`make test` does), or point RKUBE_BIN at it",
                target_dirs()
            ),
        }
    })
    .clone()
}

fn target_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(d));
    }
    // A test executable lives in <target>/<profile>/deps/.
    if let Ok(exe) = std::env::current_exe() {
        if let Some(t) = exe.parent().and_then(Path::parent).and_then(Path::parent) {
            dirs.push(t.to_path_buf());
        }
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let mut out: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let d = fs::canonicalize(&d).unwrap_or(d);
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The `kubectl` on PATH: a dispatcher that picks `kubectl.1.NN` by the server's `/version`.
pub fn kubectl_dispatcher() -> PathBuf {
    which("kubectl").expect("`kubectl` is not on PATH; the e2e tests drive the real kubectl")
}

/// A versioned kubectl (`"1.33"` → `kubectl.1.33`) from the dispatcher's directory.
pub fn kubectl_versioned(version: &str) -> PathBuf {
    let dispatcher = fs::canonicalize(kubectl_dispatcher()).expect("resolve kubectl on PATH");
    let p = dispatcher
        .parent()
        .expect("kubectl has a parent dir")
        .join(format!("kubectl.{version}"));
    assert!(
        p.is_file(),
        "{} not found (expected beside the kubectl dispatcher)",
        p.display()
    );
    p
}

// ---------------------------------------------------------------------------------------------
// Running commands with a deadline

/// Runs `cmd` to completion with piped output, killing it after `timeout`.
pub fn run_with_timeout(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("failed to spawn {desc}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin piped");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let mut out_pipe = child.stdout.take().expect("stdout piped");
    let mut err_pipe = child.stderr.take().expect("stderr piped");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(s) => break s,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let stdout = out_t.join().unwrap_or_default();
                let stderr = err_t.join().unwrap_or_default();
                panic!(
                    "timed out after {timeout:?}: {desc}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&stdout),
                    String::from_utf8_lossy(&stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// Polls `cond` every 50 ms until it holds; panics naming `what` once `timeout` has passed.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `child` to exit, up to `timeout`; `None` if it is still running.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM to a process we started.
pub fn sigterm(child: &Child) {
    signal(child, "TERM");
}

/// Sends SIGINT to a process we started.
pub fn sigint(child: &Child) {
    signal(child, "INT");
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {} failed", child.id());
}

// ---------------------------------------------------------------------------------------------
// The server

/// How to start a server.
#[derive(Clone, Debug, Default)]
pub struct ServerOpts {
    /// `--datastore-endpoint` (etcd); `None` = the embedded store.
    pub datastore_endpoint: Option<String>,
    /// Contents of a `--token-auth-file` (upstream CSV: `token,user,uid,"group1,group2"`).
    pub token_auth_csv: Option<String>,
    /// Any further arguments to `rkube server`.
    pub extra_args: Vec<String>,
    /// Run the node agent (real containers through containerd, the proxy, DNS): listens on
    /// all addresses so pods reach the API. Only one such server may run on a machine.
    pub with_agent: bool,
}

/// Client credentials and endpoint read from the admin kubeconfig, written out as PEM files.
#[derive(Clone, Debug)]
pub struct Creds {
    pub server: String,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca_data_b64: String,
}

/// One `rkube server` process on a temp data dir; killed (SIGTERM) on drop.
pub struct Server {
    tmp: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub port: u16,
    pub opts: ServerOpts,
    child: Option<Child>,
    log_path: PathBuf,
    creds: OnceLock<Creds>,
    token_file: Option<PathBuf>,
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

impl Server {
    /// Starts a server with the embedded store and waits until it is ready.
    pub fn start_default() -> Server {
        Server::start(ServerOpts::default())
    }

    /// Starts a server without scheduler and controller manager: only the API, for tests of
    /// API semantics that controllers would race with.
    pub fn api_only() -> Server {
        Server::start(ServerOpts {
            extra_args: vec![
                "--disable-scheduler".into(),
                "--disable-controller-manager".into(),
            ],
            ..Default::default()
        })
    }

    /// Starts a server with `n` fake nodes (`fake-node-0` …) and waits until all are Ready
    /// and have a podCIDR.
    pub fn with_fake_nodes(n: usize, extra: &[&str]) -> Server {
        let mut extra_args = vec!["--fake-nodes".to_string(), n.to_string()];
        extra_args.extend(extra.iter().map(|s| s.to_string()));
        let s = Server::start(ServerOpts {
            extra_args,
            ..Default::default()
        });
        s.wait_nodes_ready(n);
        s
    }

    /// Waits until `n` nodes report Ready and have a podCIDR.
    pub fn wait_nodes_ready(&self, n: usize) {
        wait_until(WAIT, &format!("{n} nodes are Ready"), || {
            let out = self.must(&[
                "get",
                "nodes",
                "-o",
                "jsonpath={range .items[*]}{.spec.podCIDR} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ]);
            lines(&out)
                .iter()
                .filter(|l| l.starts_with("10.") && l.ends_with("True"))
                .count()
                == n
        });
    }

    /// Waits until the pod's `phase` is `phase`; returns the pod.
    pub fn wait_pod_phase(&self, name: &str, phase: &str) -> Value {
        let mut pod = Value::Null;
        wait_until(WAIT, &format!("pod {name} is {phase}"), || {
            pod = self.get_json(&["pod", name]);
            pod["status"]["phase"] == phase
        });
        pod
    }

    /// Waits until an event about `object` (e.g. `pod/web`) with `reason` exists whose message
    /// contains `text`; returns the message.
    pub fn wait_event(&self, object: &str, reason: &str, text: &str) -> String {
        let name = object.split('/').nth(1).unwrap_or(object);
        let mut found = String::new();
        wait_until(
            WAIT,
            &format!("event {reason} on {object} containing {text:?}"),
            || {
                let list = self.get_json(&[
                    "events",
                    "--field-selector",
                    &format!("involvedObject.name={name}"),
                ]);
                let hit = list["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e["reason"] == reason)
                    .find_map(|e| {
                        e["message"]
                            .as_str()
                            .filter(|m| m.contains(text))
                            .map(String::from)
                    });
                match hit {
                    Some(m) => {
                        found = m;
                        true
                    }
                    None => false,
                }
            },
        );
        found
    }

    /// Starts a server and waits (up to [`START_TIMEOUT`]) until its kubeconfig exists and
    /// `/readyz` answers 200.
    pub fn start(opts: ServerOpts) -> Server {
        let tmp = tempfile::Builder::new()
            .prefix("rkube-e2e-")
            .tempdir()
            .expect("create temp dir");
        let data_dir = tmp.path().join("data");
        let log_path = tmp.path().join("server.log");
        let token_file = opts.token_auth_csv.as_ref().map(|csv| {
            let p = tmp.path().join("tokens.csv");
            fs::write(&p, csv).expect("write token file");
            p
        });
        fs::create_dir_all(tmp.path().join("cache")).expect("create cache dir");
        let mut server = Server {
            tmp,
            data_dir,
            port: 0,
            opts,
            child: None,
            log_path,
            creds: OnceLock::new(),
            token_file,
        };
        // Another test may take the port between probing and binding: retry on EADDRINUSE.
        for attempt in 0.. {
            server.port = free_port();
            match server.try_start() {
                Ok(()) => return server,
                Err(log) if attempt < 3 && log.contains("os error 98") => continue,
                Err(log) => panic!("rkube server did not start:\n{log}"),
            }
        }
        unreachable!()
    }

    /// The args `rkube server` gets for this server's data dir and port.
    pub fn server_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "server".into(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
            "--bind-address".into(),
            if self.opts.with_agent {
                "0.0.0.0"
            } else {
                "127.0.0.1"
            }
            .into(),
            "--https-listen-port".into(),
            self.port.to_string(),
        ];
        if !self.opts.with_agent {
            args.push("--disable-agent".into());
        }
        if let Some(ep) = &self.opts.datastore_endpoint {
            args.push("--datastore-endpoint".into());
            args.push(ep.clone());
        }
        if let Some(f) = &self.token_file {
            args.push("--token-auth-file".into());
            args.push(f.display().to_string());
        }
        args.extend(self.opts.extra_args.iter().cloned());
        args
    }

    fn try_start(&mut self) -> Result<(), String> {
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open server log");
        let args = self.server_args();
        writeln!(log, "=== {} {}", rkube_bin().display(), args.join(" ")).expect("write log");
        let child = Command::new(rkube_bin())
            .args(&args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("failed to spawn {}: {e}", rkube_bin().display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("exited early with {status}\n{}", self.log()));
            }
            if self.kubeconfig().is_file() && self.load_creds().is_some() {
                let r = self.request("GET", "/readyz", Auth::Admin, &[], None);
                if r.code == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "kubeconfig {} and /readyz not ready within {START_TIMEOUT:?}\n{}",
                    self.kubeconfig().display(),
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server with SIGTERM and returns its exit status (panics if it does not exit
    /// within 20 s).
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server is running");
        sigterm(&child);
        match wait_exit(&mut child, Duration::from_secs(20)) {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "rkube server did not exit within 20s of SIGTERM\n{}",
                    self.log()
                );
            }
        }
    }

    /// Starts the server again on the same data dir and port (after [`Server::stop`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server before restarting it");
        if let Err(log) = self.try_start() {
            panic!("rkube server did not restart:\n{log}");
        }
    }

    /// The running server process.
    pub fn child(&self) -> &Child {
        self.child.as_ref().expect("server is running")
    }

    /// Takes the server process out of the harness (the caller then owns stopping it).
    pub fn take_child(&mut self) -> Child {
        self.child.take().expect("server is running")
    }

    /// The scratch dir of this test (holds the data dir, log, kubectl cache).
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("kubeconfig.yaml")
    }

    /// Everything the server has printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// kubectl through the dispatcher on PATH.
    pub fn kc(&self) -> Kubectl {
        self.kc_with(kubectl_dispatcher())
    }

    /// A versioned kubectl, e.g. `kc_at("1.33")`.
    pub fn kc_at(&self, version: &str) -> Kubectl {
        self.kc_with(kubectl_versioned(version))
    }

    fn kc_with(&self, bin: PathBuf) -> Kubectl {
        Kubectl {
            bin,
            kubeconfig: self.kubeconfig(),
            cache_dir: self.tmp.path().join("cache"),
            scratch: self.tmp.path().to_path_buf(),
            env: Vec::new(),
        }
    }

    /// Runs kubectl (dispatcher) with this server's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kc().run(args)
    }

    /// Runs `kubectl.<version>` with this server's kubeconfig.
    pub fn kubectl_at(&self, version: &str, args: &[&str]) -> Output {
        self.kc_at(version).run(args)
    }

    /// kubectl that must succeed; returns stdout.
    pub fn must(&self, args: &[&str]) -> String {
        self.kc().must(args)
    }

    /// kubectl that must fail; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        self.kc().fails(args)
    }

    /// `kubectl create -f - --validate=false` with `manifest` (YAML or JSON) on stdin.
    pub fn create(&self, manifest: &str) -> String {
        self.kc().create(manifest)
    }

    /// `kubectl get <args> -o json`, parsed.
    pub fn get_json(&self, args: &[&str]) -> Value {
        self.kc().get_json(args)
    }

    /// The admin credentials from the kubeconfig (written out as PEM files once).
    pub fn creds(&self) -> &Creds {
        self.load_creds().unwrap_or_else(|| {
            panic!(
                "cannot read credentials from {}",
                self.kubeconfig().display()
            )
        })
    }

    fn load_creds(&self) -> Option<&Creds> {
        if let Some(c) = self.creds.get() {
            return Some(c);
        }
        let text = fs::read_to_string(self.kubeconfig()).ok()?;
        let kc: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
        let cluster = kc.get("clusters")?.get(0)?.get("cluster")?;
        let user = kc.get("users")?.get(0)?.get("user")?;
        let server = cluster.get("server")?.as_str()?.to_string();
        let ca_b64 = cluster
            .get("certificate-authority-data")?
            .as_str()?
            .to_string();
        let b64 = base64::engine::general_purpose::STANDARD;
        let ca = b64.decode(&ca_b64).ok()?;
        let cert = b64
            .decode(user.get("client-certificate-data")?.as_str()?)
            .ok()?;
        let key = b64.decode(user.get("client-key-data")?.as_str()?).ok()?;
        let dir = self.tmp.path().join("creds");
        fs::create_dir_all(&dir).ok()?;
        let (ca_p, cert_p, key_p) = (
            dir.join("ca.crt"),
            dir.join("admin.crt"),
            dir.join("admin.key"),
        );
        fs::write(&ca_p, ca).ok()?;
        fs::write(&cert_p, cert).ok()?;
        fs::write(&key_p, key).ok()?;
        let _ = self.creds.set(Creds {
            server,
            ca: ca_p,
            cert: cert_p,
            key: key_p,
            ca_data_b64: ca_b64,
        });
        self.creds.get()
    }

    /// Writes a kubeconfig that reaches this server with a bearer token instead of the admin
    /// certificate; returns its path.
    pub fn token_kubeconfig(&self, token: &str) -> PathBuf {
        let c = self.creds();
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: rkube\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: tok\n  user:\n    token: {}\ncontexts:\n- name: tok\n  context:\n    cluster: rkube\n    user: tok\n    namespace: default\ncurrent-context: tok\n",
            c.server, c.ca_data_b64, token
        );
        let p = self
            .tmp
            .path()
            .join(format!("token-{}.kubeconfig", unique()));
        fs::write(&p, yaml).expect("write token kubeconfig");
        p
    }

    /// One raw HTTPS request through curl. `path` includes any query string.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        auth: Auth,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        let c = self.creds();
        let n = unique();
        let body_out = self.tmp.path().join(format!("curl-{n}.out"));
        let mut cmd = Command::new("curl");
        cmd.arg("-sS")
            .arg("-X")
            .arg(method)
            .arg("--cacert")
            .arg(&c.ca)
            .arg("-o")
            .arg(&body_out)
            .arg("-w")
            .arg("%{http_code}\n%{content_type}")
            .arg("--max-time")
            .arg("30");
        match &auth {
            Auth::Admin => {
                cmd.arg("--cert").arg(&c.cert).arg("--key").arg(&c.key);
            }
            Auth::Anonymous => {}
            Auth::Token(t) => {
                cmd.arg("-H").arg(format!("Authorization: Bearer {t}"));
            }
        }
        for (k, v) in headers {
            cmd.arg("-H").arg(format!("{k}: {v}"));
        }
        if let Some(b) = body {
            let body_in = self.tmp.path().join(format!("curl-{n}.in"));
            fs::write(&body_in, b).expect("write request body");
            cmd.arg("--data-binary")
                .arg(format!("@{}", body_in.display()));
        }
        cmd.arg(format!("{}{}", c.server.trim_end_matches('/'), path));
        let out = run_with_timeout(cmd, None, COMMAND_TIMEOUT);
        let meta = String::from_utf8_lossy(&out.stdout).to_string();
        let mut lines = meta.lines();
        let code: u16 = lines.next().unwrap_or("0").trim().parse().unwrap_or(0);
        let content_type = lines.next().unwrap_or("").to_string();
        let body = fs::read(&body_out).unwrap_or_default();
        let _ = fs::remove_file(&body_out);
        Response {
            request: format!("{method} {path}"),
            code,
            content_type,
            body,
            curl_stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    /// `GET path` as admin.
    pub fn http_get(&self, path: &str) -> Response {
        self.request("GET", path, Auth::Admin, &[], None)
    }

    /// A request as admin with a JSON body.
    pub fn http_json(&self, method: &str, path: &str, body: &Value) -> Response {
        let b = serde_json::to_vec(body).expect("serialize body");
        self.request(
            method,
            path,
            Auth::Admin,
            &[("Content-Type", "application/json")],
            Some(&b),
        )
    }
}

impl Server {
    /// Containers outlive their agent (as with k3s): kill the shims this server started and
    /// unmount what containerd mounted under the temp dir, so the next test starts clean.
    /// `rkube killall` on the (stopped) server's data dir: its containerd stops and removes
    /// every pod sandbox, so CNI releases the pod IPs and veths (a sandbox stopped but not torn
    /// down when the server went would leave its veth and IP on the bridge for the next test).
    fn killall(&self) {
        let mut cmd = Command::new(rkube_bin());
        cmd.arg("killall").arg("--data-dir").arg(&self.data_dir);
        let out = run_with_timeout(cmd, None, Duration::from_secs(60));
        if !out.status.success() {
            eprintln!(
                "rkube killall --data-dir {} failed: {}",
                self.data_dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Backstop after [`Server::killall`]: kills what is left of this server's runtime.
    fn reap_containers(&self) {
        let dir = self.tmp.path().display().to_string();
        // Everything this server's containerd started: its shims (their command lines name
        // the data dir) and every process below them (pause and container processes, which
        // outlive a killed shim). Their network namespaces are deleted after, so no veth
        // with a reused pod IP stays on the bridge for the next test.
        let procs = process_table();
        let mut doomed: std::collections::HashSet<u32> = procs
            .iter()
            .filter(|p| p.cmdline.contains(&dir))
            .map(|p| p.pid)
            .collect();
        loop {
            let before = doomed.len();
            for p in &procs {
                if doomed.contains(&p.ppid) {
                    doomed.insert(p.pid);
                }
            }
            if doomed.len() == before {
                break;
            }
        }
        let netns: std::collections::HashSet<u64> = procs
            .iter()
            .filter(|p| doomed.contains(&p.pid) && p.pid != std::process::id())
            .filter_map(|p| fs::metadata(format!("/proc/{}/ns/net", p.pid)).ok())
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .collect();
        let pids: Vec<String> = doomed
            .iter()
            .filter(|p| **p != std::process::id())
            .map(|p| p.to_string())
            .collect();
        if !pids.is_empty() {
            let _ = Command::new("kill").arg("-9").args(&pids).status();
        }
        let host_ns = fs::metadata("/proc/self/ns/net")
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap_or_default();
        for e in fs::read_dir("/var/run/netns")
            .into_iter()
            .flatten()
            .flatten()
        {
            let ino = fs::metadata(e.path())
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .unwrap_or_default();
            if ino != host_ns && netns.contains(&ino) {
                let _ = Command::new("ip")
                    .args(["netns", "delete"])
                    .arg(e.file_name())
                    .status();
            }
        }
        let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut targets: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&dir))
            .collect();
        targets.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in targets {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            sigterm(&child);
            if wait_exit(&mut child, Duration::from_secs(10)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if self.opts.with_agent {
            self.killall();
            self.reap_containers();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- rkube server log ({}) -----\n{}\n----- end of server log -----",
                self.log_path.display(),
                self.log()
            );
            // The runtime's own log, last: CI keeps the tail of a failure's output.
            let containerd = self.data_dir.join("agent/containerd/containerd.log");
            if let Ok(text) = fs::read_to_string(&containerd) {
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                eprintln!(
                    "----- containerd log, last 40 lines ({}) -----\n{tail}",
                    containerd.display()
                );
            }
        }
        if std::env::var_os("RKUBE_E2E_KEEP").is_some() {
            let p = self.tmp.path().to_path_buf();
            eprintln!("keeping {}", p.display());
            std::mem::forget(std::mem::replace(
                &mut self.tmp,
                tempfile::tempdir().expect("tempdir"),
            ));
        }
    }
}

/// Who a raw request authenticates as.
#[derive(Clone, Debug)]
pub enum Auth {
    Admin,
    Anonymous,
    Token(String),
}

/// A raw HTTP answer.
#[derive(Clone, Debug)]
pub struct Response {
    /// `METHOD /path`, for messages.
    pub request: String,
    pub code: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub curl_stderr: String,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    /// The body as JSON (panics with the body if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: response (HTTP {}, {}) is not JSON: {e}\n{}{}",
                self.request,
                self.code,
                self.content_type,
                self.text(),
                self.curl_stderr
            )
        })
    }

    /// Asserts an HTTP code and returns the JSON body.
    pub fn expect(&self, code: u16) -> Value {
        assert_eq!(
            self.code,
            code,
            "{}: expected HTTP {code}, got {}: {}{}",
            self.request,
            self.code,
            self.text(),
            self.curl_stderr
        );
        self.json()
    }

    /// Asserts that this is a `metav1.Status` failure with `code` and `reason`, and returns it.
    pub fn expect_status(&self, code: u16, reason: &str) -> Value {
        let s = self.expect(code);
        let r = &self.request;
        assert_eq!(s["kind"], "Status", "{r}: not a Status: {s}");
        assert_eq!(s["apiVersion"], "v1", "{r}: Status apiVersion: {s}");
        assert_eq!(s["status"], "Failure", "{r}: Status status: {s}");
        assert_eq!(s["reason"], reason, "{r}: Status reason: {s}");
        assert_eq!(s["code"], code, "{r}: Status code: {s}");
        assert!(
            s["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{r}: Status without a message: {s}"
        );
        s
    }
}

// ---------------------------------------------------------------------------------------------
// kubectl

/// A kubectl binary bound to one server's kubeconfig and a private discovery cache.
#[derive(Clone, Debug)]
pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub cache_dir: PathBuf,
    scratch: PathBuf,
    /// Extra environment (e.g. `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`).
    env: Vec<(String, String)>,
}

impl Kubectl {
    /// The same kubectl with `key=value` in its environment.
    pub fn with_env(&self, key: &str, value: &str) -> Kubectl {
        let mut k = self.clone();
        k.env.push((key.into(), value.into()));
        k
    }

    /// The same kubectl with another kubeconfig (e.g. from [`Server::token_kubeconfig`]).
    pub fn with_kubeconfig(&self, kubeconfig: &Path) -> Kubectl {
        Kubectl {
            kubeconfig: kubeconfig.to_path_buf(),
            ..self.clone()
        }
    }

    /// A `Command` for kubectl with the kubeconfig and cache dir set.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!("--cache-dir={}", self.cache_dir.display()))
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", &self.scratch)
            .env("KUBECTL_COMMAND_HEADERS", "true")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn describe(&self, args: &[&str]) -> String {
        let name = self
            .bin
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        format!("{name} {}", args.join(" "))
    }

    /// Runs kubectl and returns its output, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_stdin(args, None)
    }

    /// Runs kubectl with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: Option<&str>) -> Output {
        let out = run_with_timeout(
            self.command(args),
            input.map(str::as_bytes),
            COMMAND_TIMEOUT,
        );
        eprintln!(
            "$ {} -> {}\n{}{}",
            self.describe(args),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs kubectl; panics (showing stderr) unless it succeeds. Returns stdout.
    pub fn must(&self, args: &[&str]) -> String {
        self.must_stdin(args, None)
    }

    /// Like [`Kubectl::must`], with `input` on stdin.
    pub fn must_stdin(&self, args: &[&str], input: Option<&str>) -> String {
        let out = self.run_stdin(args, input);
        assert!(
            out.status.success(),
            "`{}` failed ({}):\n{}{}",
            self.describe(args),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Runs kubectl; panics unless it fails. Returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        self.fails_stdin(args, None)
    }

    /// Like [`Kubectl::fails`], with `input` on stdin.
    pub fn fails_stdin(&self, args: &[&str], input: Option<&str>) -> String {
        let out = self.run_stdin(args, input);
        assert!(
            !out.status.success(),
            "`{}` succeeded but should have failed:\n{}",
            self.describe(args),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).to_string()
    }

    /// `kubectl create -f - --validate=false` with `manifest` on stdin; returns stdout.
    pub fn create(&self, manifest: &str) -> String {
        self.must_stdin(&["create", "-f", "-", "--validate=false"], Some(manifest))
    }

    /// `kubectl replace -f - --validate=false` with `manifest` on stdin; returns stdout.
    pub fn replace(&self, manifest: &str) -> String {
        self.must_stdin(&["replace", "-f", "-", "--validate=false"], Some(manifest))
    }

    /// Read-modify-write through kubectl: `get <args> -o json`, apply `f`, `replace -f -`.
    /// Returns the object as sent.
    pub fn modify(&self, args: &[&str], f: impl FnOnce(&mut Value)) -> Value {
        let mut obj = self.get_json(args);
        f(&mut obj);
        self.replace(&obj.to_string());
        obj
    }

    /// `kubectl get <args> -o json`, parsed.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        let out = self.must(&a);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("kubectl output is not JSON: {e}\n{out}"))
    }

    /// Whether `kubectl get <args>` succeeds (e.g. the object exists).
    pub fn exists(&self, args: &[&str]) -> bool {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "name"]);
        self.run(&a).status.success()
    }

    /// Starts kubectl in the background with stdout and stderr going to files.
    pub fn spawn(&self, args: &[&str]) -> Background {
        let n = unique();
        let stdout = self.scratch.join(format!("bg-{n}.out"));
        let stderr = self.scratch.join(format!("bg-{n}.err"));
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).expect("create stdout file"))
            .stderr(fs::File::create(&stderr).expect("create stderr file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to spawn {}: {e}", self.describe(args)));
        eprintln!("$ {} &", self.describe(args));
        Background {
            child,
            stdout,
            stderr,
            desc: self.describe(args),
        }
    }
}

/// A kubectl running in the background (e.g. `get -w`); killed on drop.
pub struct Background {
    pub child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    desc: String,
}

impl Background {
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Polls until stdout satisfies `cond`.
    pub fn wait_for_output(&self, what: &str, mut cond: impl FnMut(&str) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.stdout();
            if cond(&out) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting until {what} in the output of `{}`\nstdout:\n{out}\nstderr:\n{}",
                    self.desc,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit by itself within `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        match wait_exit(&mut self.child, timeout) {
            Some(s) => s,
            None => panic!(
                "`{}` still running after {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                self.desc,
                self.stdout(),
                self.stderr()
            ),
        }
    }

    /// Kills the process and returns what it printed on stdout.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdout()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Output parsers

/// Splits kubectl's table output into rows of cells (cells are separated by 2+ spaces; the
/// first row is the header).
pub fn table(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// The header cells of kubectl's table output.
pub fn header(out: &str) -> Vec<String> {
    table(out).into_iter().next().unwrap_or_default()
}

/// The data row whose column `col` (by header name) equals `value`.
pub fn row<'a>(rows: &'a [Vec<String>], col: &str, value: &str) -> Option<&'a Vec<String>> {
    let idx = rows.first()?.iter().position(|h| h == col)?;
    rows.iter()
        .skip(1)
        .find(|r| r.get(idx).map(String::as_str) == Some(value))
}

/// The value in column `col` of the row whose NAME is `name`.
pub fn cell(out: &str, name: &str, col: &str) -> String {
    let rows = table(out);
    let idx = rows
        .first()
        .and_then(|h| h.iter().position(|c| c == col))
        .unwrap_or_else(|| panic!("no column {col} in:\n{out}"));
    let r = row(&rows, "NAME", name).unwrap_or_else(|| panic!("no row NAME={name} in:\n{out}"));
    r.get(idx)
        .cloned()
        .unwrap_or_else(|| panic!("row {name} has no cell {col} in:\n{out}"))
}

/// Sorted non-empty lines (e.g. of `-o name` output).
pub fn lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The names of the items of a list (`kubectl get … -o json`), sorted.
pub fn item_names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|i| {
            i["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

/// Parses a stream of concatenated JSON values (e.g. `get -w -o json`); stops at a partial tail.
pub fn json_stream(out: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(out)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .collect()
}

/// Percent-encodes a query parameter value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A ConfigMap manifest with `labels` (`k=v` pairs) and one data key.
pub fn configmap(name: &str, namespace: &str, labels: &[(&str, &str)]) -> String {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"key": "value"},
    })
    .to_string()
}

/// A Namespace manifest.
pub fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

/// A one-container Pod manifest (`node`: optional spec.nodeName).
pub fn pod(name: &str, namespace: &str, node: Option<&str>) -> String {
    let mut p = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"]}]},
    });
    if let Some(n) = node {
        p["spec"]["nodeName"] = Value::String(n.to_string());
    }
    p.to_string()
}

/// A Deployment manifest.
pub fn deployment(name: &str, namespace: &str, replicas: u32) -> String {
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    })
    .to_string()
}

/// One line of the process table.
struct Proc {
    pid: u32,
    ppid: u32,
    cmdline: String,
}

fn process_table() -> Vec<Proc> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let ppid = after
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let cmdline = fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        out.push(Proc { pid, ppid, cmdline });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A local image registry (Debian's `docker-registry`, the CNCF distribution registry)

/// A `docker-registry` on 127.0.0.1 with its own config and storage in a temp dir, with
/// htpasswd auth when credentials are given; killed on drop.
pub struct Registry {
    pub port: u16,
    pub creds: Option<(String, String)>,
    child: Child,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry and waits until it answers `/v2/`.
    pub fn start(creds: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut auth = String::new();
        if let Some((user, pass)) = creds {
            // bcrypt, which the registry's htpasswd wants, through the system's crypt(3); the
            // lowest cost, as the registry checks it on every request.
            let out = Command::new("python3")
                .args([
                    "-c",
                    "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))",
                    pass,
                ])
                .output()
                .expect("run python3 for a bcrypt hash");
            assert!(out.status.success(), "bcrypt: {out:?}");
            let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
            fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: rkube-e2e\n    path: {}\n",
                dir.path().join("htpasswd").display()
            );
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
            dir.path().join("data").display()
        );
        let cfg = dir.path().join("config.yml");
        fs::write(&cfg, config).unwrap();
        let log = fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start docker-registry (Debian package docker-registry)");
        let reg = Registry {
            port,
            creds: creds.map(|(u, p)| (u.to_string(), p.to_string())),
            child,
            dir,
        };
        wait_until(WAIT, "the registry answers", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        reg
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Builds a busybox-based image with `rkube image build` and pushes it as `repo` (e.g.
    /// `test/sleeper:1.0`); returns the full reference.
    pub fn push_built(&self, repo: &str, build_args: &[&str]) -> String {
        let tar = self
            .dir
            .path()
            .join(format!("{}.tar", repo.replace(['/', ':'], "_")));
        let reference = format!("{}/{repo}", self.host());
        let mut build = Command::new(rkube_bin());
        build
            .args(["image", "build", "--name", &reference])
            .args(build_args)
            .arg(&tar);
        let out = run_with_timeout(build, None, Duration::from_secs(60));
        assert!(out.status.success(), "rkube image build: {out:?}");
        let mut push = Command::new("skopeo");
        push.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some((u, p)) = &self.creds {
            push.arg("--dest-creds").arg(format!("{u}:{p}"));
        }
        push.arg(format!("oci-archive:{}", tar.display()))
            .arg(format!("docker://{reference}"));
        let out = run_with_timeout(push, None, Duration::from_secs(60));
        assert!(out.status.success(), "skopeo copy: {out:?}");
        reference
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
