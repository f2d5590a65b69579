//! Offline images: building small OCI images from a static busybox binary, importing
//! OCI-layout and docker-archive tarballs into the runtime (the `DATA_DIR/agent/images/`
//! folder, as k3s does for air-gapped installs), and listing what the runtime has.
//!
//! Tarballs are imported with containerd's own `ctr` into the `k8s.io` namespace, where the
//! CRI plugin sees them; listing goes through CRI, so it works with any runtime.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::runtime::ContainerRuntime;

/// The image name pod sandboxes run: a busybox that sleeps forever (there is no
/// `registry.k8s.io/pause` offline).
pub const PAUSE_IMAGE: &str = "docker.io/rkube/pause:busybox";
/// The name of the general-purpose busybox image (`image: busybox` in a pod).
pub const BUSYBOX_IMAGE: &str = "docker.io/library/busybox:latest";

/// What an image built from busybox looks like.
#[derive(Debug, Clone)]
pub struct BusyboxImage {
    /// Full image reference, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// ENTRYPOINT of the image config.
    pub entrypoint: Vec<String>,
    /// CMD of the image config.
    pub cmd: Vec<String>,
    /// Extra `KEY=value` environment (PATH is always set).
    pub env: Vec<String>,
}

impl BusyboxImage {
    /// `docker.io/library/busybox:latest` with CMD `sh`, as on Docker Hub.
    pub fn busybox() -> BusyboxImage {
        BusyboxImage {
            name: BUSYBOX_IMAGE.into(),
            entrypoint: vec![],
            cmd: vec!["sh".into()],
            env: vec![],
        }
    }

    /// The sandbox image: sleeps until killed.
    pub fn pause() -> BusyboxImage {
        BusyboxImage {
            name: PAUSE_IMAGE.into(),
            entrypoint: vec!["/bin/sleep".into(), "2147483647".into()],
            cmd: vec![],
            env: vec![],
        }
    }
}

/// Where Debian's `busybox-static` installs the binary.
pub fn find_busybox() -> Result<PathBuf> {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).is_file() {
            return Ok(PathBuf::from(p));
        }
    }
    Err(Error::Missing {
        program: "busybox".into(),
        package: "busybox-static",
    })
}

fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    }
}

fn sha256_hex(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn tar_err(e: std::io::Error) -> Error {
    Error::Image(format!("failed to write tar: {e}"))
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// The single layer: /bin/busybox, a symlink per applet, and the usual empty directories.
fn busybox_layer(busybox: &Path) -> Result<Vec<u8>> {
    let bin = std::fs::read(busybox).map_err(|e| Error::io("read", busybox, e))?;
    let out = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| Error::io("run", busybox, e))?;
    let applets: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(String::from)
        .collect();
    let mut t = tar::Builder::new(Vec::new());
    for (dir, mode) in [
        ("bin/", 0o755),
        ("dev/", 0o755),
        ("etc/", 0o755),
        ("proc/", 0o555),
        ("root/", 0o700),
        ("sys/", 0o555),
        ("tmp/", 0o1777),
        ("var/", 0o755),
        ("usr/", 0o755),
        ("usr/bin/", 0o755),
        ("usr/sbin/", 0o755),
        ("sbin/", 0o755),
    ] {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        t.append_data(&mut h, dir, std::io::empty())
            .map_err(tar_err)?;
    }
    let mut h = header(tar::EntryType::Regular, 0o755, bin.len() as u64);
    t.append_data(&mut h, "bin/busybox", bin.as_slice())
        .map_err(tar_err)?;
    let files: [(&str, &str); 3] = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnobody:x:65534:\n"),
        ("etc/nsswitch.conf", "hosts: files dns\n"),
    ];
    for (path, body) in files {
        let mut h = header(tar::EntryType::Regular, 0o644, body.len() as u64);
        t.append_data(&mut h, path, body.as_bytes())
            .map_err(tar_err)?;
    }
    for a in applets {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        t.append_link(&mut h, format!("bin/{a}"), "busybox")
            .map_err(tar_err)?;
    }
    t.into_inner().map_err(tar_err)
}

/// Writes an OCI image layout tarball (uncompressed layer) for `image` from the static
/// busybox at `busybox`. Importable with [`import`], `ctr images import` or `skopeo`.
pub fn build_busybox_image(busybox: &Path, image: &BusyboxImage, out: &Path) -> Result<()> {
    let layer = busybox_layer(busybox)?;
    let layer_hex = sha256_hex(&layer);
    let mut env =
        vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
    env.extend(image.env.iter().cloned());
    let mut config = json!({"Env": env});
    if !image.entrypoint.is_empty() {
        config["Entrypoint"] = json!(image.entrypoint);
    }
    if !image.cmd.is_empty() {
        config["Cmd"] = json!(image.cmd);
    }
    let config = json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": oci_arch(),
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "rkube: busybox-static"}],
    });
    let config = serde_json::to_vec(&config).map_err(|e| Error::Image(e.to_string()))?;
    let config_hex = sha256_hex(&config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{config_hex}"), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{layer_hex}"), "size": layer.len()}],
    });
    let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::Image(e.to_string()))?;
    let manifest_hex = sha256_hex(&manifest);
    let tag = image
        .name
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map(|(_, t)| t)
        .unwrap_or("latest");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_hex}"),
            "size": manifest.len(),
            "platform": {"architecture": oci_arch(), "os": "linux"},
            "annotations": {
                "io.containerd.image.name": image.name,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    let index = serde_json::to_vec(&index).map_err(|e| Error::Image(e.to_string()))?;
    let mut t = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| -> Result<()> {
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
        t.append_data(&mut h, path, data).map_err(tar_err)
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add("index.json", &index)?;
    add(&format!("blobs/sha256/{layer_hex}"), &layer)?;
    add(&format!("blobs/sha256/{config_hex}"), &config)?;
    add(&format!("blobs/sha256/{manifest_hex}"), &manifest)?;
    let data = t.into_inner().map_err(tar_err)?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    let tmp = out.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(&data)
        .map_err(|e| Error::io("write", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, out).map_err(|e| Error::io("rename", out, e))
}

/// Writes `busybox.tar` and `pause.tar` into `dir` (the agent's images folder) unless they are
/// already there, so a fresh node can run pods offline.
pub fn ensure_builtin_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let busybox = find_busybox()?;
    let mut out = Vec::new();
    for (file, image) in [
        ("pause.tar", BusyboxImage::pause()),
        ("busybox.tar", BusyboxImage::busybox()),
    ] {
        let path = dir.join(file);
        if !path.exists() {
            build_busybox_image(&busybox, &image, &path)?;
        }
        out.push(path);
    }
    Ok(out)
}

/// Imports image tarballs (OCI layout or docker archive, optionally compressed) into the
/// containerd at `address` (a socket path or `unix://` URL), namespace `k8s.io`.
pub async fn import(address: &str, files: &[PathBuf]) -> Result<()> {
    let address = address.strip_prefix("unix://").unwrap_or(address);
    let ctr = which("ctr").ok_or(Error::Missing {
        program: "ctr".into(),
        package: "containerd",
    })?;
    for file in files {
        let out = tokio::process::Command::new(&ctr)
            .args([
                "--address",
                address,
                "--namespace",
                "k8s.io",
                "images",
                "import",
            ])
            .arg(file)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| Error::io("run", &ctr, e))?;
        if !out.status.success() {
            return Err(Error::Image(format!(
                "failed to import {}: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

/// One image the runtime has, as `rkube image ls` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// `sha256:…` image id.
    pub id: String,
    /// Names (repo:tag).
    pub tags: Vec<String>,
    /// Size in bytes.
    pub size: u64,
}

/// Lists the runtime's images.
pub async fn list(runtime: &dyn ContainerRuntime) -> Result<Vec<ImageInfo>> {
    let mut out: Vec<ImageInfo> = runtime
        .list_images()
        .await?
        .into_iter()
        .map(|i| ImageInfo {
            id: i.id,
            tags: i.repo_tags,
            size: i.size,
        })
        .collect();
    out.sort_by(|a, b| a.tags.cmp(&b.tags));
    Ok(out)
}

/// Finds a program on PATH (and in the sbin directories, which root's PATH may lack).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn is_image_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Imports every tarball in `dir` that is new or changed since the last call (tracked in
/// `seen` by modification time and size).
pub async fn import_dir(
    address: &str,
    dir: &Path,
    seen: &mut BTreeMap<PathBuf, (SystemTime, u64)>,
) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("read", dir, e)),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_image_file(p))
        .collect();
    // The sandbox image first: nothing runs without it.
    files.sort_by_key(|p| (!p.ends_with("pause.tar"), p.clone()));
    let mut n = 0;
    for f in files {
        let Ok(meta) = std::fs::metadata(&f) else {
            continue;
        };
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        if seen.get(&f) == Some(&stamp) {
            continue;
        }
        import(address, std::slice::from_ref(&f)).await?;
        tracing::info!(file = %f.display(), "imported image tarball");
        seen.insert(f, stamp);
        n += 1;
    }
    Ok(n)
}

/// Imports the folder now and again whenever files appear or change (polled every `every`).
pub async fn watch_dir(address: String, dir: PathBuf, every: Duration) {
    let mut seen = BTreeMap::new();
    loop {
        if let Err(e) = import_dir(&address, &dir, &mut seen).await {
            tracing::error!("failed to import images from {}: {e:#}", dir.display());
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_image_layout() {
        let Ok(bb) = find_busybox() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bb.tar");
        build_busybox_image(&bb, &BusyboxImage::busybox(), &out).unwrap();
        let mut ar = tar::Archive::new(std::fs::File::open(&out).unwrap());
        let mut names = Vec::new();
        let mut index = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().to_string();
            if p == "index.json" {
                std::io::Read::read_to_end(&mut e, &mut index).unwrap();
            }
            names.push(p);
        }
        assert!(names.contains(&"oci-layout".to_string()));
        assert_eq!(names.iter().filter(|n| n.starts_with("blobs/")).count(), 3);
        let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
        assert_eq!(
            index["manifests"][0]["annotations"]["io.containerd.image.name"],
            BUSYBOX_IMAGE
        );
        assert!(is_image_file(&out));
        assert!(!is_image_file(Path::new("x.txt")));
    }
}
