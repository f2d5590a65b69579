//! The join token agents use, in k3s's shape: `K10<sha256 of the CA certificate PEM>::server:<secret>`.
//! The hash lets an agent check the server's CA (fetched from `/cacerts`) before it sends the
//! secret; the secret is a bearer token for the `system:nodes` group.

use anyhow::{bail, Context, Result};
use std::path::Path;

use crate::datadir::write_atomic;

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A parsed token: the expected CA hash (absent for a bare secret) and the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    pub ca_hash: Option<String>,
    pub secret: String,
}

impl JoinToken {
    /// Parses `K10<hash>::server:<secret>`, `K10<hash>::<secret>`, or a bare secret.
    pub fn parse(text: &str) -> Result<JoinToken> {
        let text = text.trim();
        if text.is_empty() {
            bail!("empty token");
        }
        let Some(rest) = text.strip_prefix("K10") else {
            return Ok(JoinToken {
                ca_hash: None,
                secret: text.to_string(),
            });
        };
        let (hash, cred) = rest
            .split_once("::")
            .context("token starts with K10 but has no '::' separator")?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("token's CA hash is not 64 hex digits");
        }
        let secret = cred.strip_prefix("server:").unwrap_or(cred);
        if secret.is_empty() {
            bail!("token has an empty secret");
        }
        Ok(JoinToken {
            ca_hash: Some(hash.to_ascii_lowercase()),
            secret: secret.to_string(),
        })
    }
}

/// Reads the server's join token from `dir/token`, creating it on first start.
pub fn ensure(dir: &Path, ca_pem: &str) -> Result<String> {
    let path = dir.join("token");
    let hash = sha256_hex(ca_pem.as_bytes());
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if let Ok(t) = JoinToken::parse(&existing) {
            if t.ca_hash.as_deref() == Some(hash.as_str()) {
                return Ok(existing.trim().to_string());
            }
        }
    }
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let token = format!("K10{hash}::server:{secret}");
    write_atomic(&path, format!("{token}\n").as_bytes(), 0o600)
        .with_context(|| format!("write join token {}", path.display()))?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_token_forms() {
        let h = "a".repeat(64);
        let t = JoinToken::parse(&format!("K10{h}::server:s3cret")).unwrap();
        assert_eq!(t.ca_hash.as_deref(), Some(h.as_str()));
        assert_eq!(t.secret, "s3cret");
        assert_eq!(
            JoinToken::parse("plain").unwrap(),
            JoinToken {
                ca_hash: None,
                secret: "plain".into()
            }
        );
        assert!(JoinToken::parse("K10abc::x").is_err());
        assert!(JoinToken::parse(&format!("K10{h}::server:")).is_err());
        assert!(JoinToken::parse("").is_err());
    }

    #[test]
    fn token_file_is_stable_and_follows_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let a = ensure(dir.path(), "CA1").unwrap();
        assert_eq!(ensure(dir.path(), "CA1").unwrap(), a);
        let b = ensure(dir.path(), "CA2").unwrap();
        assert_ne!(a, b);
        assert!(b.starts_with(&format!("K10{}::server:", sha256_hex(b"CA2"))));
    }
}
