//! Pod volumes on the node: each volume becomes a host directory (or file) under
//! `<pods_dir>/<uid>/volumes/<plugin>/<name>` that containers bind-mount.
//!
//! - `emptyDir`: a directory; `medium: Memory` mounts a tmpfs there (sized by `sizeLimit`).
//! - `configMap`, `secret`, `downwardAPI`, `projected`: files written by [`AtomicDir`], the
//!   way upstream's atomic writer does it — the payload goes into a fresh `..<stamp>` directory,
//!   `..data` is a symlink swapped to it with a rename, and each top-level entry is a symlink
//!   through `..data`. A changed object is therefore seen by containers all at once, without
//!   restarting them. These volumes are always mounted read-only.
//! - `hostPath`: the host path itself, after upstream's `type` checks (and creation for the
//!   `…OrCreate` types).
//!
//! The pod's `/etc/hosts` is written here too (`<pods_dir>/<uid>/etc-hosts`), with hostAliases.
//!
//! Invariants: nothing outside `<pods_dir>/<uid>` is ever written except hostPath's `OrCreate`
//! types; [`teardown`] unmounts every tmpfs below the pod's directory before removing it, so it
//! never deletes through a mount.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, KeyToPath, Pod, Secret, Volume,
};
use kube::api::Api;

use super::env::{expand, field_value, resource_value};

/// A volume ready on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostVolume {
    /// Where it is on the host.
    pub path: PathBuf,
    /// Mounted read-only whatever the volumeMount says (configMap, secret, …).
    pub read_only: bool,
}

/// The directory of pod `uid`.
pub fn pod_dir(pods_dir: &Path, uid: &str) -> PathBuf {
    pods_dir.join(uid)
}

/// Reads the objects volumes refer to (the API in production, maps in tests).
#[async_trait::async_trait]
pub trait VolumeSource: Send + Sync {
    /// A ConfigMap's data and binaryData as bytes; None when it does not exist.
    async fn config_map(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String>;
    /// A Secret's decoded data; None when it does not exist.
    async fn secret(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String>;
}

#[async_trait::async_trait]
impl VolumeSource for kube::Client {
    async fn config_map(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        let api: Api<ConfigMap> = Api::namespaced(self.clone(), ns);
        match api.get_opt(name).await {
            Ok(cm) => Ok(cm.map(|cm| config_map_data(&cm))),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn secret(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        let api: Api<Secret> = Api::namespaced(self.clone(), ns);
        match api.get_opt(name).await {
            Ok(s) => Ok(s.map(|s| secret_data(&s))),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A ConfigMap's data and binaryData as bytes.
pub fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    for (k, v) in cm.binary_data.iter().flatten() {
        data.insert(k.clone(), v.0.clone());
    }
    data
}

/// A Secret's decoded data (stringData too, should a client have sent it).
pub fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> = s
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in s.string_data.iter().flatten() {
        data.insert(k.clone(), v.clone().into_bytes());
    }
    data
}

/// What a sync needs to know to lay out the volumes.
pub struct Context<'a> {
    pub pods_dir: &'a Path,
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
}

/// Upstream's default file mode for configMap/secret/downwardAPI/projected files (0644).
const DEFAULT_MODE: i32 = 0o644;

/// Sets up (or refreshes) every volume of `pod`. The error is the `FailedMount` event message,
/// `MountVolume.SetUp failed for volume "<name>" : <why>`.
pub async fn setup(
    src: &dyn VolumeSource,
    ctx: &Context<'_>,
    pod: &Pod,
) -> Result<BTreeMap<String, HostVolume>, String> {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let base = pod_dir(ctx.pods_dir, uid).join("volumes");
    let mut out = BTreeMap::new();
    let spec = pod.spec.clone().unwrap_or_default();
    let fs_group = spec.security_context.as_ref().and_then(|s| s.fs_group);
    for v in spec.volumes.iter().flatten() {
        let hv = setup_one(src, ctx, pod, &base, v)
            .await
            .map_err(|why| format!("MountVolume.SetUp failed for volume \"{}\" : {why}", v.name))?;
        if let (Some(gid), None) = (fs_group, &v.host_path) {
            apply_fs_group(&hv.path, gid as u32, v.empty_dir.is_some());
        }
        out.insert(v.name.clone(), hv);
    }
    Ok(out)
}

async fn setup_one(
    src: &dyn VolumeSource,
    ctx: &Context<'_>,
    pod: &Pod,
    base: &Path,
    v: &Volume,
) -> Result<HostVolume, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let io = |e: std::io::Error| e.to_string();
    if let Some(ed) = &v.empty_dir {
        let dir = base.join("kubernetes.io~empty-dir").join(&v.name);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(io)?;
            // World-writable, as upstream: containers may run as any user. Only when created:
            // fsGroup's setgid bit, set after, must stay.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).map_err(io)?;
        }
        if ed.medium.as_deref() == Some("Memory") && !is_mount_point(&dir) {
            let size = ed
                .size_limit
                .as_ref()
                .and_then(|q| rkube_api::quantity::Quantity::parse(&q.0))
                .map(|q| (q.nanos / 1_000_000_000).max(0));
            mount_tmpfs(&dir, size).map_err(|e| format!("failed to mount tmpfs: {e}"))?;
        }
        return Ok(HostVolume {
            path: dir,
            read_only: false,
        });
    }
    if let Some(hp) = &v.host_path {
        let path = PathBuf::from(&hp.path);
        check_host_path(&path, hp.type_.as_deref().unwrap_or(""))?;
        return Ok(HostVolume {
            path,
            read_only: false,
        });
    }
    let mut files: BTreeMap<String, (Vec<u8>, i32)> = BTreeMap::new();
    let plugin;
    if let Some(cm) = &v.config_map {
        plugin = "kubernetes.io~configmap";
        let name = cm.name.as_str();
        let mode = cm.default_mode.unwrap_or(DEFAULT_MODE);
        project_object(
            src,
            ns,
            "configmap",
            name,
            cm.items.as_deref(),
            mode,
            cm.optional,
            &mut files,
        )
        .await?
    } else if let Some(s) = &v.secret {
        plugin = "kubernetes.io~secret";
        let name = s.secret_name.as_deref().unwrap_or_default();
        let mode = s.default_mode.unwrap_or(DEFAULT_MODE);
        project_object(
            src,
            ns,
            "secret",
            name,
            s.items.as_deref(),
            mode,
            s.optional,
            &mut files,
        )
        .await?
    } else if let Some(d) = &v.downward_api {
        plugin = "kubernetes.io~downward-api";
        let mode = d.default_mode.unwrap_or(DEFAULT_MODE);
        downward_files(
            &mut files,
            ctx,
            pod,
            d.items.as_deref().unwrap_or_default(),
            mode,
        )?;
    } else if let Some(p) = &v.projected {
        plugin = "kubernetes.io~projected";
        let mode = p.default_mode.unwrap_or(DEFAULT_MODE);
        for source in p.sources.iter().flatten() {
            if let Some(cm) = &source.config_map {
                let name = cm.name.as_str();
                project_object(
                    src,
                    ns,
                    "configmap",
                    name,
                    cm.items.as_deref(),
                    mode,
                    cm.optional,
                    &mut files,
                )
                .await?
            }
            if let Some(s) = &source.secret {
                let name = s.name.as_str();
                project_object(
                    src,
                    ns,
                    "secret",
                    name,
                    s.items.as_deref(),
                    mode,
                    s.optional,
                    &mut files,
                )
                .await?
            }
            if let Some(d) = &source.downward_api {
                downward_files(
                    &mut files,
                    ctx,
                    pod,
                    d.items.as_deref().unwrap_or_default(),
                    mode,
                )?;
            }
            if source.service_account_token.is_some() {
                return Err(
                    "serviceAccountToken projections are not supported by this node yet".into(),
                );
            }
            if source.cluster_trust_bundle.is_some() {
                return Err("clusterTrustBundle projections are not supported".into());
            }
        }
    } else {
        return Err("this volume type is not supported by this node".into());
    }
    let dir = base.join(plugin).join(&v.name);
    AtomicDir::new(dir.clone()).write(&files).map_err(io)?;
    Ok(HostVolume {
        path: dir,
        read_only: true,
    })
}

/// The files of a configMap or secret source (`kind` is `configmap` or `secret`): every key,
/// or `items`; a missing object is an error unless `optional`.
#[allow(clippy::too_many_arguments)]
async fn project_object(
    src: &dyn VolumeSource,
    ns: &str,
    kind: &str,
    name: &str,
    items: Option<&[KeyToPath]>,
    mode: i32,
    optional: Option<bool>,
    files: &mut BTreeMap<String, (Vec<u8>, i32)>,
) -> Result<(), String> {
    let data = if kind == "secret" {
        src.secret(ns, name).await?
    } else {
        src.config_map(ns, name).await?
    };
    match data {
        Some(data) => project_keys(files, &data, items, mode, kind, name, optional),
        None if optional == Some(true) => Ok(()),
        None => Err(format!("{kind} \"{name}\" not found")),
    }
}

/// The files of a configMap/secret source: every key, or just `items`.
fn project_keys(
    files: &mut BTreeMap<String, (Vec<u8>, i32)>,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    mode: i32,
    kind: &str,
    name: &str,
    optional: Option<bool>,
) -> Result<(), String> {
    match items {
        None => {
            for (k, v) in data {
                files.insert(k.clone(), (v.clone(), mode));
            }
        }
        Some(items) => {
            for it in items {
                match data.get(&it.key) {
                    Some(v) => {
                        check_rel_path(&it.path)?;
                        files.insert(it.path.clone(), (v.clone(), it.mode.unwrap_or(mode)));
                    }
                    None if optional == Some(true) => {}
                    None => {
                        return Err(format!(
                            "configured to use key {} of {kind} {name}, but the key is missing",
                            it.key
                        ))
                    }
                }
            }
        }
    }
    Ok(())
}

/// The files of a downwardAPI source.
fn downward_files(
    files: &mut BTreeMap<String, (Vec<u8>, i32)>,
    ctx: &Context<'_>,
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    mode: i32,
) -> Result<(), String> {
    for it in items {
        check_rel_path(&it.path)?;
        let value = if let Some(f) = &it.field_ref {
            match f.field_path.as_str() {
                "metadata.labels" => format_map(pod.metadata.labels.as_ref()),
                "metadata.annotations" => format_map(pod.metadata.annotations.as_ref()),
                path => field_value(pod, path, ctx.pod_ip, ctx.host_ip)?,
            }
        } else if let Some(r) = &it.resource_field_ref {
            let spec = pod.spec.clone().unwrap_or_default();
            let name = r.container_name.as_deref().unwrap_or_default();
            let c = spec
                .containers
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| format!("container {name:?} not found in the pod"))?;
            resource_value(c, &r.resource, r.divisor.as_ref().map(|d| d.0.as_str()))
        } else {
            String::new()
        };
        files.insert(
            it.path.clone(),
            (value.into_bytes(), it.mode.unwrap_or(mode)),
        );
    }
    Ok(())
}

/// `key="value"` lines, sorted by key, the downward API's format for labels and annotations.
fn format_map(m: Option<&BTreeMap<String, String>>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in m.into_iter().flatten().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = write!(out, "{k}={v:?}");
    }
    out
}

/// Upstream's volume ownership for `fsGroup`: the group owns everything in the volume, can
/// read it (and write it, for emptyDir), and directories are setgid so new files inherit the
/// group. Done once per volume (when its root is not yet owned by the group).
fn apply_fs_group(root: &Path, gid: u32, writable: bool) {
    let Ok(m) = std::fs::symlink_metadata(root) else {
        return;
    };
    if m.gid() == gid {
        return;
    }
    fn walk(p: &Path, gid: u32, writable: bool) {
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return;
        };
        let _ = std::os::unix::fs::lchown(p, None, Some(gid));
        if m.file_type().is_symlink() {
            return;
        }
        let mut mode = m.mode() & 0o7777;
        mode |= 0o040;
        if writable {
            mode |= 0o020;
        }
        if m.is_dir() {
            mode |= 0o2010;
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), gid, writable);
                }
            }
        }
        let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    }
    walk(root, gid, writable);
}

/// A relative path inside the volume: no `..`, not absolute, not empty.
fn check_rel_path(p: &str) -> Result<(), String> {
    let path = Path::new(p);
    if p.is_empty()
        || path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        || p.starts_with("..")
    {
        return Err(format!(
            "invalid path {p:?}: must be relative and may not contain '..'"
        ));
    }
    Ok(())
}

/// Upstream's hostPath `type` checks.
fn check_host_path(path: &Path, ty: &str) -> Result<(), String> {
    let p = path.display();
    let meta = std::fs::metadata(path);
    let fail = |what: &str| Err(format!("hostPath type check failed: {p} is not a {what}"));
    match ty {
        "" => Ok(()),
        "DirectoryOrCreate" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => fail("directory"),
            Err(_) => {
                std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| e.to_string())
            }
        },
        "Directory" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => fail("directory"),
            Err(_) => Err(format!(
                "hostPath type check failed: {p} is not a directory"
            )),
        },
        "FileOrCreate" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => fail("file"),
            Err(_) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(path)
                    .map_err(|e| e.to_string())?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| e.to_string())
            }
        },
        "File" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            _ => fail("file"),
        },
        "Socket" => match meta {
            Ok(m) if m.file_type().is_socket() => Ok(()),
            _ => fail("socket file"),
        },
        "CharDevice" => match meta {
            Ok(m) if m.file_type().is_char_device() => Ok(()),
            _ => fail("character device"),
        },
        "BlockDevice" => match meta {
            Ok(m) if m.file_type().is_block_device() => Ok(()),
            _ => fail("block device"),
        },
        other => Err(format!("invalid hostPath type {other:?}")),
    }
}

/// A directory whose content is replaced all at once (see the module docs).
pub struct AtomicDir {
    dir: PathBuf,
}

impl AtomicDir {
    pub fn new(dir: PathBuf) -> AtomicDir {
        AtomicDir { dir }
    }

    /// Whether the current payload equals `files` (content and mode).
    fn current_equals(&self, files: &BTreeMap<String, (Vec<u8>, i32)>) -> bool {
        let data = self.dir.join("..data");
        let Ok(target) = std::fs::read_link(&data) else {
            return false;
        };
        let root = self.dir.join(target);
        let mut count = 0;
        if !count_files(&root, &mut count) || count != files.len() {
            return false;
        }
        files.iter().all(|(path, (bytes, mode))| {
            let p = root.join(path);
            match (std::fs::read(&p), std::fs::metadata(&p)) {
                (Ok(b), Ok(m)) => &b == bytes && (m.mode() & 0o7777) as i32 == *mode,
                _ => false,
            }
        })
    }

    /// Replaces the payload with `files` (relative path → content and mode), unless unchanged.
    pub fn write(&self, files: &BTreeMap<String, (Vec<u8>, i32)>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        if self.current_equals(files) {
            return Ok(());
        }
        let stamp = format!("..{}", chrono::Utc::now().format("%Y_%m_%d_%H_%M_%S.%f"));
        let fresh = self.dir.join(&stamp);
        std::fs::create_dir(&fresh)?;
        for (path, (bytes, mode)) in files {
            let p = fresh.join(path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&p, bytes)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode as u32 & 0o7777))?;
        }
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755))?;
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&stamp, &tmp)?;
        std::fs::rename(&tmp, self.dir.join("..data"))?;
        // Top-level entries are symlinks through ..data; stale ones go.
        let tops: std::collections::BTreeSet<String> = files
            .keys()
            .filter_map(|p| p.split('/').next().map(String::from))
            .collect();
        for top in &tops {
            let link = self.dir.join(top);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{top}"), &link)?;
            }
        }
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("..") || tops.contains(&name) {
                continue;
            }
            let _ = std::fs::remove_file(entry.path());
        }
        if let Some(old) = old {
            if old.as_os_str() != std::ffi::OsStr::new(&stamp) {
                let _ = std::fs::remove_dir_all(self.dir.join(old));
            }
        }
        Ok(())
    }
}

fn count_files(dir: &Path, n: &mut usize) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    for e in rd.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => {
                if !count_files(&e.path(), n) {
                    return false;
                }
            }
            Ok(_) => *n += 1,
            Err(_) => return false,
        }
    }
    true
}

fn is_mount_point(dir: &Path) -> bool {
    let (Ok(m), Some(Ok(p))) = (std::fs::metadata(dir), dir.parent().map(std::fs::metadata)) else {
        return false;
    };
    m.dev() != p.dev()
}

fn mount_tmpfs(dir: &Path, size: Option<i128>) -> nix::Result<()> {
    let data = size.map(|s| format!("size={s}"));
    nix::mount::mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        data.as_deref(),
    )
}

/// Unmounts every mount below the pod's directory, then removes it.
pub fn teardown(pods_dir: &Path, uid: &str) {
    let dir = pod_dir(pods_dir, uid);
    if !dir.exists() {
        return;
    }
    let prefix = format!("{}/", dir.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    // Deepest first.
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Err(e) = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!("failed to unmount {p}: {e}");
            return;
        }
    }
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::warn!("failed to remove {}: {e}", dir.display());
    }
}

/// The pod's `/etc/hosts`: localhost entries, the pod's own name, then hostAliases.
pub fn etc_hosts(pod: &Pod, pod_ip: &str, cluster_domain: &str) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let mut out = String::from("# Kubernetes-managed hosts file.\n");
    if spec.host_network == Some(true) {
        out = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        if !out.ends_with('\n') && !out.is_empty() {
            out.push('\n');
        }
    } else {
        out.push_str("127.0.0.1\tlocalhost\n");
        out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
        out.push_str("fe00::0\tip6-localnet\n");
        out.push_str("fe00::0\tip6-mcastprefix\n");
        out.push_str("fe00::1\tip6-allnodes\n");
        out.push_str("fe00::2\tip6-allrouters\n");
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let hostname = spec.hostname.clone().unwrap_or_else(|| name.to_string());
        if !pod_ip.is_empty() {
            match &spec.subdomain {
                Some(sub) if !sub.is_empty() => {
                    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
                    let _ = writeln!(
                        out,
                        "{pod_ip}\t{hostname}.{sub}.{ns}.svc.{cluster_domain}\t{hostname}"
                    );
                }
                _ => {
                    let _ = writeln!(out, "{pod_ip}\t{hostname}");
                }
            }
        }
    }
    if let Some(aliases) = spec.host_aliases.as_ref().filter(|a| !a.is_empty()) {
        out.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            let _ = writeln!(
                out,
                "{}\t{}",
                a.ip,
                a.hostnames.clone().unwrap_or_default().join("\t")
            );
        }
    }
    out
}

/// Writes the pod's hosts file; its path.
pub fn write_etc_hosts(
    pods_dir: &Path,
    pod: &Pod,
    pod_ip: &str,
    cluster_domain: &str,
) -> std::io::Result<PathBuf> {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let dir = pod_dir(pods_dir, uid);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("etc-hosts");
    let content = etc_hosts(pod, pod_ip, cluster_domain);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
        let tmp = dir.join("etc-hosts.tmp");
        std::fs::write(&tmp, content)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(path)
}

/// The CRI mounts of container `c`: its volumeMounts (with subPath / subPathExpr), and
/// `/etc/hosts` unless the container mounts something there itself.
pub fn container_mounts(
    c: &Container,
    volumes: &BTreeMap<String, HostVolume>,
    etc_hosts: Option<&Path>,
    vars: &BTreeMap<String, String>,
) -> Result<Vec<k8s_cri::v1::Mount>, String> {
    let mut out = Vec::new();
    for vm in c.volume_mounts.iter().flatten() {
        let Some(v) = volumes.get(&vm.name) else {
            return Err(format!(
                "cannot find volume {:?} to mount into container {:?}",
                vm.name, c.name
            ));
        };
        let sub = match (&vm.sub_path, &vm.sub_path_expr) {
            (Some(s), _) if !s.is_empty() => Some(s.clone()),
            (_, Some(e)) if !e.is_empty() => Some(expand(e, vars)),
            _ => None,
        };
        let host = match sub {
            Some(s) => {
                check_rel_path(&s).map_err(|e| format!("subPath {e}"))?;
                let p = v.path.join(&s);
                if std::fs::symlink_metadata(&p).is_err() && !v.read_only {
                    std::fs::create_dir_all(&p).map_err(|e| format!("failed to create subPath directory for volumeMount {:?} of container {:?}: {e}", vm.name, c.name))?;
                    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777));
                }
                // Resolve symlinks (configMap keys are links through ..data) but stay inside.
                let real = std::fs::canonicalize(&p).map_err(|e| format!("subPath {s:?}: {e}"))?;
                let root = std::fs::canonicalize(&v.path).map_err(|e| e.to_string())?;
                if !real.starts_with(&root) {
                    return Err(format!("subPath {s:?} leaves the volume"));
                }
                real
            }
            None => v.path.clone(),
        };
        let propagation = match vm.mount_propagation.as_deref() {
            Some("HostToContainer") => k8s_cri::v1::MountPropagation::PropagationHostToContainer,
            Some("Bidirectional") => k8s_cri::v1::MountPropagation::PropagationBidirectional,
            _ => k8s_cri::v1::MountPropagation::PropagationPrivate,
        };
        out.push(k8s_cri::v1::Mount {
            container_path: vm.mount_path.clone(),
            host_path: host.display().to_string(),
            readonly: v.read_only || vm.read_only == Some(true),
            propagation: propagation as i32,
            ..Default::default()
        });
    }
    if let Some(hosts) = etc_hosts {
        if !out.iter().any(|m| m.container_path == "/etc/hosts") {
            out.push(k8s_cri::v1::Mount {
                container_path: "/etc/hosts".into(),
                host_path: hosts.display().to_string(),
                ..Default::default()
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Objects {
        cms: HashMap<String, BTreeMap<String, Vec<u8>>>,
        secrets: HashMap<String, BTreeMap<String, Vec<u8>>>,
    }

    #[async_trait::async_trait]
    impl VolumeSource for std::sync::Mutex<Objects> {
        async fn config_map(
            &self,
            _ns: &str,
            name: &str,
        ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
            Ok(self.lock().unwrap().cms.get(name).cloned())
        }
        async fn secret(
            &self,
            _ns: &str,
            name: &str,
        ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
            Ok(self.lock().unwrap().secrets.get(name).cloned())
        }
    }

    fn pod(volumes: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1",
                         "labels": {"app": "web", "tier": "front"}},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                     "resources": {"limits": {"memory": "64Mi"}}}], "volumes": volumes}
        }))
        .unwrap()
    }

    fn objects() -> std::sync::Mutex<Objects> {
        let mut cms = HashMap::new();
        cms.insert(
            "cfg".to_string(),
            BTreeMap::from([
                ("color".to_string(), b"blue".to_vec()),
                ("size".to_string(), b"10".to_vec()),
            ]),
        );
        let mut secrets = HashMap::new();
        secrets.insert(
            "creds".to_string(),
            BTreeMap::from([("password".to_string(), b"s3cr3t".to_vec())]),
        );
        std::sync::Mutex::new(Objects { cms, secrets })
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    #[tokio::test]
    async fn config_map_secret_and_downward_files() {
        let tmp = tempfile::tempdir().unwrap();
        let src = objects();
        let ctx = Context {
            pods_dir: tmp.path(),
            pod_ip: "10.42.0.5",
            host_ip: "192.168.1.2",
        };
        let p = pod(serde_json::json!([
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "one", "configMap": {"name": "cfg", "items": [{"key": "color", "path": "sub/c.txt", "mode": 0o600}]}},
            {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o400}},
            {"name": "info", "downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}]}},
            {"name": "all", "projected": {"sources": [
                {"configMap": {"name": "cfg", "optional": true, "items": [{"key": "size", "path": "size"}]}},
                {"secret": {"name": "creds"}}]}},
            {"name": "scratch", "emptyDir": {}}
        ]));
        let vols = setup(&src, &ctx, &p).await.unwrap();
        let cfg = &vols["cfg"];
        assert!(cfg.read_only);
        assert_eq!(read(&cfg.path.join("color")), "blue");
        assert_eq!(read(&cfg.path.join("size")), "10");
        assert!(std::fs::symlink_metadata(cfg.path.join("color"))
            .unwrap()
            .file_type()
            .is_symlink());
        let one = &vols["one"];
        assert_eq!(read(&one.path.join("sub/c.txt")), "blue");
        assert_eq!(
            std::fs::metadata(one.path.join("sub/c.txt"))
                .unwrap()
                .mode()
                & 0o777,
            0o600
        );
        assert!(!one.path.join("color").exists());
        let sec = &vols["sec"].path;
        assert_eq!(read(&sec.join("password")), "s3cr3t");
        assert_eq!(
            std::fs::metadata(sec.join("password")).unwrap().mode() & 0o777,
            0o400
        );
        let info = &vols["info"].path;
        assert_eq!(read(&info.join("labels")), "app=\"web\"\ntier=\"front\"");
        assert_eq!(read(&info.join("name")), "p");
        assert_eq!(read(&info.join("mem")), "64");
        let all = &vols["all"].path;
        assert_eq!(read(&all.join("size")), "10");
        assert_eq!(read(&all.join("password")), "s3cr3t");
        assert!(!vols["scratch"].read_only);
        assert!(vols["scratch"].path.is_dir());

        // An update swaps the payload: new keys appear, removed keys go, old stamp dirs go.
        {
            let mut o = src.lock().unwrap();
            let cm = o.cms.get_mut("cfg").unwrap();
            cm.insert("color".into(), b"green".to_vec());
            cm.remove("size");
        }
        let first = std::fs::read_link(cfg.path.join("..data")).unwrap();
        setup(&src, &ctx, &p).await.unwrap();
        assert_eq!(read(&cfg.path.join("color")), "green");
        assert!(!cfg.path.join("size").exists());
        assert!(!cfg.path.join(&first).exists());
        // Unchanged content is not rewritten.
        let second = std::fs::read_link(cfg.path.join("..data")).unwrap();
        setup(&src, &ctx, &p).await.unwrap();
        assert_eq!(std::fs::read_link(cfg.path.join("..data")).unwrap(), second);

        teardown(tmp.path(), "u1");
        assert!(!tmp.path().join("u1").exists());
    }

    #[tokio::test]
    async fn missing_objects_and_keys_fail_unless_optional() {
        let tmp = tempfile::tempdir().unwrap();
        let src = objects();
        let ctx = Context {
            pods_dir: tmp.path(),
            pod_ip: "",
            host_ip: "",
        };
        let err = setup(
            &src,
            &ctx,
            &pod(serde_json::json!([{"name": "v", "configMap": {"name": "nope"}}])),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err,
            "MountVolume.SetUp failed for volume \"v\" : configmap \"nope\" not found"
        );
        let err = setup(
            &src,
            &ctx,
            &pod(serde_json::json!([{"name": "s", "secret": {"secretName": "nope"}}])),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err,
            "MountVolume.SetUp failed for volume \"s\" : secret \"nope\" not found"
        );
        let err = setup(
            &src,
            &ctx,
            &pod(serde_json::json!([{"name": "v", "configMap": {"name": "cfg", "items": [{"key": "x", "path": "x"}]}}])),
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("configured to use key x of configmap cfg, but the key is missing"),
            "{err}"
        );
        let vols = setup(
            &src,
            &ctx,
            &pod(
                serde_json::json!([{"name": "v", "configMap": {"name": "nope", "optional": true}}]),
            ),
        )
        .await
        .unwrap();
        assert!(vols["v"].path.is_dir());
    }

    #[tokio::test]
    async fn fs_group_owns_volumes() {
        let tmp = tempfile::tempdir().unwrap();
        let src = objects();
        let ctx = Context {
            pods_dir: tmp.path(),
            pod_ip: "",
            host_ip: "",
        };
        let mut p = pod(serde_json::json!([
            {"name": "scratch", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "cfg"}}
        ]));
        p.spec.as_mut().unwrap().security_context =
            Some(serde_json::from_value(serde_json::json!({"fsGroup": 2000})).unwrap());
        setup(&src, &ctx, &p).await.unwrap();
        // A second sync keeps what the first one set.
        let vols = setup(&src, &ctx, &p).await.unwrap();
        let m = std::fs::metadata(&vols["scratch"].path).unwrap();
        assert_eq!(m.gid(), 2000);
        assert_eq!(m.mode() & 0o2000, 0o2000, "setgid");
        let f = std::fs::metadata(vols["cfg"].path.join("color")).unwrap();
        assert_eq!(f.gid(), 2000);
        assert_eq!(f.mode() & 0o040, 0o040);
    }

    #[test]
    fn host_path_types() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("made/dir");
        check_host_path(&d, "DirectoryOrCreate").unwrap();
        assert!(d.is_dir());
        let f = tmp.path().join("made/file");
        check_host_path(&f, "FileOrCreate").unwrap();
        assert!(f.is_file());
        check_host_path(&f, "File").unwrap();
        assert_eq!(
            check_host_path(&f, "Directory").unwrap_err(),
            format!(
                "hostPath type check failed: {} is not a directory",
                f.display()
            )
        );
        assert!(check_host_path(&tmp.path().join("absent"), "Directory").is_err());
        assert!(check_host_path(&tmp.path().join("absent"), "").is_ok());
        assert!(check_host_path(&d, "Socket")
            .unwrap_err()
            .contains("is not a socket file"));
        assert!(check_host_path(Path::new("/dev/null"), "CharDevice").is_ok());
    }

    #[test]
    fn hosts_file_with_aliases_and_subdomain() {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-0", "namespace": "prod", "uid": "u"},
            "spec": {"containers": [], "hostname": "web-0", "subdomain": "web",
                     "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}]}
        }))
        .unwrap();
        let h = etc_hosts(&p, "10.42.0.9", "cluster.local");
        assert!(
            h.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"),
            "{h}"
        );
        assert!(
            h.contains("10.42.0.9\tweb-0.web.prod.svc.cluster.local\tweb-0\n"),
            "{h}"
        );
        assert!(
            h.ends_with("# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"),
            "{h}"
        );
    }

    #[test]
    fn mounts_with_sub_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let vols = BTreeMap::from([(
            "data".to_string(),
            HostVolume {
                path: tmp.path().to_path_buf(),
                read_only: false,
            },
        )]);
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "c",
            "volumeMounts": [
                {"name": "data", "mountPath": "/data"},
                {"name": "data", "mountPath": "/logs", "subPathExpr": "$(POD)", "readOnly": true}
            ]
        }))
        .unwrap();
        let vars = BTreeMap::from([("POD".to_string(), "p1".to_string())]);
        let m = container_mounts(&c, &vols, Some(Path::new("/x/etc-hosts")), &vars).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].container_path, "/data");
        assert!(!m[0].readonly);
        assert!(m[1].host_path.ends_with("/p1"));
        assert!(m[1].readonly);
        assert!(tmp.path().join("p1").is_dir());
        assert_eq!(m[2].container_path, "/etc/hosts");
        let bad: Container = serde_json::from_value(serde_json::json!({
            "name": "c", "volumeMounts": [{"name": "data", "mountPath": "/d", "subPath": "../etc"}]
        }))
        .unwrap();
        assert!(container_mounts(&bad, &vols, None, &vars).is_err());
    }
}
