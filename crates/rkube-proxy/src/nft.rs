//! Running the `nft` binary: one script per call on stdin (`nft -f -`), which the kernel
//! applies as a single atomic transaction. This is the proxy's only side effect on the
//! host; it runs in the calling thread's network namespace.

use std::io::Write as _;
use std::process::{Command, Stdio};

use tokio::io::AsyncWriteExt as _;

use crate::{Error, TABLE};

/// The binary (looked up in `PATH`).
const NFT: &str = "nft";

fn spawn_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::Unavailable(
            "the nft binary was not found in PATH: install the nftables package".into(),
        )
    } else {
        Error::Io(e)
    }
}

fn trimmed(stderr: &[u8]) -> String {
    let s = String::from_utf8_lossy(stderr);
    let s = s.trim();
    if s.len() > 4000 {
        let mut cut = 4000;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &s[..cut])
    } else {
        s.to_string()
    }
}

/// Whether `stderr` says the kernel (not the script) refused: no nf_tables, no privilege.
fn kernel_refused(stderr: &str) -> bool {
    [
        "Operation not supported",
        "Protocol not supported",
        "Operation not permitted",
        "Permission denied",
        "Address family not supported",
    ]
    .iter()
    .any(|m| stderr.contains(m))
}

fn result(status: std::process::ExitStatus, stderr: &[u8]) -> Result<(), Error> {
    if status.success() {
        return Ok(());
    }
    let msg = trimmed(stderr);
    if kernel_refused(&msg) {
        return Err(Error::Unavailable(format!(
            "the kernel refused nftables ({msg}): rkube-proxy needs root, the nf_tables kernel \
             module and the nftables package"
        )));
    }
    Err(Error::Apply(msg))
}

/// Applies `script` in one transaction, blocking the thread.
pub fn run(script: &str) -> Result<(), Error> {
    let mut child = Command::new(NFT)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    result(out.status, &out.stderr)
}

/// Applies `script` in one transaction without blocking the runtime.
pub async fn run_async(script: &str) -> Result<(), Error> {
    let mut child = tokio::process::Command::new(NFT)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    result(out.status, &out.stderr)
}

/// Checks that nftables works here: the binary runs and the kernel accepts a transaction
/// (creating and deleting a scratch table, leaving nothing behind).
pub fn probe() -> Result<(), Error> {
    let t = format!("{TABLE}-probe");
    run(&format!("add table ip {t}\ndelete table ip {t}\n")).map_err(|e| match e {
        Error::Apply(msg) => Error::Unavailable(format!(
            "nft cannot create a table ({msg}): install the nftables package"
        )),
        e => e,
    })
}

/// Deletes the proxy's table, and so every chain, map, set and rule it made; succeeds if
/// the table is already gone.
pub fn delete_table() -> Result<(), Error> {
    run(&delete_script())
}

/// [`delete_table`] without blocking the runtime.
pub async fn delete_table_async() -> Result<(), Error> {
    run_async(&delete_script()).await
}

/// `add` first, so the transaction also succeeds when the table is absent.
fn delete_script() -> String {
    format!("add table ip {TABLE}\ndelete table ip {TABLE}\n")
}

/// The proxy's table as `nft list` prints it, or `None` if it does not exist.
pub fn list_table() -> Result<Option<String>, Error> {
    let out = Command::new(NFT)
        .args(["list", "table", "ip", TABLE])
        .output()
        .map_err(spawn_error)?;
    if out.status.success() {
        return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let msg = trimmed(&out.stderr);
    if msg.contains("No such file or directory") {
        return Ok(None);
    }
    result(out.status, &out.stderr).map(|()| None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_names_the_package() {
        let e = spawn_error(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(matches!(e, Error::Unavailable(_)));
        assert_eq!(
            e.to_string(),
            "nftables is unavailable: the nft binary was not found in PATH: install the \
             nftables package"
        );
    }

    #[test]
    fn kernel_refusals_are_unavailable_and_script_errors_are_not() {
        let refused = b"Error: Could not process rule: Operation not supported\n";
        let status = std::process::Command::new("false").status().unwrap();
        let e = result(status, refused).unwrap_err();
        assert!(
            matches!(e, Error::Unavailable(ref m) if m.contains("nftables package")),
            "{e}"
        );
        let e = result(status, b"Error: syntax error, unexpected junk").unwrap_err();
        assert!(
            matches!(e, Error::Apply(ref m) if m.contains("syntax error")),
            "{e}"
        );
    }
}
