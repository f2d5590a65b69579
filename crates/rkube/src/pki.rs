//! The cluster PKI, created on first start under `<data-dir>/tls/`: a CA, the API server's
//! serving certificate and the admin client certificate (CN=admin, O=system:masters).
//! Existing files are reused so restarts keep every credential.

use crate::datadir::write_atomic;
use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

pub struct Pki {
    pub ca_cert: String,
    pub server_cert: String,
    pub server_key: String,
    pub admin_cert: String,
    pub admin_key: String,
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn validity(params: &mut CertificateParams, days: u64) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    // Midnight today (UTC), minus a day of slack for skewed clocks.
    let start = rcgen::date_time_ymd(today.year(), today.month() as u8, today.day() as u8);
    params.not_before = start - std::time::Duration::from_secs(86400);
    params.not_after = start + std::time::Duration::from_secs(days * 86400);
}

pub fn ensure(dir: &Path, sans: &[String]) -> Result<Pki> {
    let p = |n: &str| -> PathBuf { dir.join(n) };
    let (ca_cert, ca_key) = match (read(&p("ca.crt")), read(&p("ca.key"))) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            tracing::info!("creating cluster certificate authority");
            let key = KeyPair::generate().context("generate CA key")?;
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            let mut dn = DistinguishedName::new();
            dn.push(
                DnType::CommonName,
                format!("rkube-ca@{}", chrono::Utc::now().timestamp()),
            );
            params.distinguished_name = dn;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            validity(&mut params, 3650);
            let cert = params.self_signed(&key).context("sign CA certificate")?;
            let (c, k) = (cert.pem(), key.serialize_pem());
            write_atomic(&p("ca.crt"), c.as_bytes(), 0o644)?;
            write_atomic(&p("ca.key"), k.as_bytes(), 0o600)?;
            (c, k)
        }
    };
    let ca_keypair = KeyPair::from_pem(&ca_key).context("parse CA key")?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, ca_keypair).context("parse CA certificate")?;

    let leaf = |name: &str,
                cn: &str,
                orgs: &[&str],
                names: &[String],
                usage: ExtendedKeyUsagePurpose|
     -> Result<(String, String)> {
        if let (Some(c), Some(k)) = (
            read(&p(&format!("{name}.crt"))),
            read(&p(&format!("{name}.key"))),
        ) {
            return Ok((c, k));
        }
        tracing::info!("creating {name} certificate");
        let key = KeyPair::generate().with_context(|| format!("generate {name} key"))?;
        let mut params = CertificateParams::new(names.to_vec())
            .with_context(|| format!("{name} certificate names"))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        for o in orgs {
            dn.push(DnType::OrganizationName, *o);
        }
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 365);
        let cert = params
            .signed_by(&key, &issuer)
            .with_context(|| format!("sign {name} certificate"))?;
        let (c, k) = (cert.pem(), key.serialize_pem());
        write_atomic(&p(&format!("{name}.crt")), c.as_bytes(), 0o644)?;
        write_atomic(&p(&format!("{name}.key")), k.as_bytes(), 0o600)?;
        Ok((c, k))
    };
    let (server_cert, server_key) = leaf(
        "server",
        "kube-apiserver",
        &[],
        sans,
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (admin_cert, admin_key) = leaf(
        "admin",
        "admin",
        &["system:masters"],
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;
    Ok(Pki {
        ca_cert,
        server_cert,
        server_key,
        admin_cert,
        admin_key,
    })
}

/// Subject alternative names of the serving certificate.
pub fn server_sans(bind: &str) -> Vec<String> {
    let mut names: Vec<String> = [
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            names.push(h.to_string());
        }
    }
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(addr) = a.address else { continue };
            if let Some(v4) = addr.as_sockaddr_in() {
                names.push(v4.ip().to_string());
            } else if let Some(v6) = addr.as_sockaddr_in6() {
                let ip = v6.ip();
                // Link-local addresses are not reachable by name; skip them.
                if (ip.segments()[0] & 0xffc0) != 0xfe80 {
                    names.push(ip.to_string());
                }
            }
        }
    }
    if bind != "0.0.0.0" && bind != "::" && !bind.is_empty() {
        names.push(bind.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}
