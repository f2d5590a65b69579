//! A second real client: the official Kubernetes Python client (`pip install kubernetes`)
//! creates, reads, patches, replaces and deletes a Deployment (tests/python/deployment.py).

use rkube_e2e::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn python_client_crud_on_a_deployment() {
    let probe = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .output()
        .expect("run python3");
    assert!(
        probe.status.success(),
        "the Python client is missing: `pip install kubernetes` (make test installs it)"
    );
    let s = Server::start_default();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/deployment.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(s.kubeconfig());
    let out = run_with_timeout(cmd, None, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "python client failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
