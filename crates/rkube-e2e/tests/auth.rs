//! Authentication: the admin client certificate, bearer tokens from `--token-auth-file`, and 401
//! for everyone else.

use rkube_e2e::*;
use std::process::Command;

const TOKENS: &str = "s3cr3t-token-alice,alice,1001,\"devs,ops\"\nbob-token,bob,1002\n";

fn token_server() -> Server {
    Server::start(ServerOpts {
        token_auth_csv: Some(TOKENS.into()),
        ..ServerOpts::default()
    })
}

#[test]
fn anonymous_requests_are_unauthorized() {
    let s = Server::start_default();
    for path in [
        "/api/v1/namespaces",
        "/apis",
        "/api/v1/namespaces/default/configmaps",
    ] {
        s.request("GET", path, Auth::Anonymous, &[], None)
            .expect_status(401, "Unauthorized");
    }
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"anon"}}"#;
    s.request(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Auth::Anonymous,
        &[("Content-Type", "application/json")],
        Some(body),
    )
    .expect_status(401, "Unauthorized");
    assert!(
        !s.kc().exists(&["cm", "anon"]),
        "an anonymous create went through"
    );
}

#[test]
fn bearer_tokens_from_the_token_file() {
    let s = token_server();
    // curl
    let r = s.request(
        "GET",
        "/api/v1/namespaces",
        Auth::Token("s3cr3t-token-alice".into()),
        &[],
        None,
    );
    assert_eq!(r.expect(200)["kind"], "NamespaceList");
    s.request(
        "GET",
        "/api/v1/namespaces",
        Auth::Token("wrong".into()),
        &[],
        None,
    )
    .expect_status(401, "Unauthorized");
    // a prefix of a valid token is not valid
    s.request(
        "GET",
        "/api/v1/namespaces",
        Auth::Token("s3cr3t".into()),
        &[],
        None,
    )
    .expect_status(401, "Unauthorized");

    // kubectl with a kubeconfig that carries only the token
    let alice = s
        .kc()
        .with_kubeconfig(&s.token_kubeconfig("s3cr3t-token-alice"));
    let out = alice.must(&["get", "ns", "-o", "name"]);
    assert!(
        lines(&out).contains(&"namespace/default".to_string()),
        "{out}"
    );
    alice.create(&configmap("by-alice", "default", &[]));
    assert!(s.kc().exists(&["cm", "by-alice"]));
    let bob = s.kc().with_kubeconfig(&s.token_kubeconfig("bob-token"));
    bob.must(&["get", "cm", "by-alice"]);

    // and with --token on the command line
    let out = s.kc().with_kubeconfig(&s.token_kubeconfig("wrong")).must(&[
        "get",
        "ns",
        "default",
        "-o",
        "name",
        "--token=bob-token",
    ]);
    assert_eq!(out.trim(), "namespace/default");

    let bad = s.kc().with_kubeconfig(&s.token_kubeconfig("not-a-token"));
    let err = bad.fails(&["get", "ns"]);
    assert!(err.contains("You must be logged in to the server"), "{err}");
    assert!(err.contains("Unauthorized"), "{err}");
}

#[test]
fn tokens_need_a_token_file() {
    // Without --token-auth-file no token is valid.
    let s = Server::start_default();
    s.request(
        "GET",
        "/api/v1/namespaces",
        Auth::Token("s3cr3t-token-alice".into()),
        &[],
        None,
    )
    .expect_status(401, "Unauthorized");
}

#[test]
fn certificates_from_another_ca_are_refused() {
    let s = Server::start_default();
    let dir = s.tmp().join("rogue");
    std::fs::create_dir_all(&dir).unwrap();
    let (crt, key) = (dir.join("rogue.crt"), dir.join("rogue.key"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", "/O=system:masters/CN=admin", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("run openssl");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
            "--cacert",
        ])
        .arg(&s.creds().ca)
        .arg("--cert")
        .arg(&crt)
        .arg("--key")
        .arg(&key)
        .arg(format!("{}/api/v1/namespaces", s.creds().server))
        .output()
        .expect("run curl");
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // Either the TLS handshake refuses the certificate or the request is unauthenticated.
    assert!(
        code == "000" || code == "401",
        "a self-signed admin cert got HTTP {code}"
    );
}
