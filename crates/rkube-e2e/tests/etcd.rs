//! The etcd backend: the smoke subset against a real etcd (`--datastore-endpoint`), objects under
//! upstream's `/registry/...` keys, and a restart that keeps the data.

use rkube_e2e::smoke::smoke;
use rkube_e2e::*;
use rkube_store::testing::EtcdProcess;
use std::process::Command;
use std::time::Duration;

fn etcd_server(etcd: &EtcdProcess) -> Server {
    Server::start(ServerOpts {
        datastore_endpoint: Some(etcd.endpoint.clone()),
        ..ServerOpts::default()
    })
}

#[test]
fn smoke_on_etcd() {
    let etcd = EtcdProcess::start();
    let s = etcd_server(&etcd);
    smoke(&s.kc(), None);
}

#[test]
fn etcd_holds_upstream_keys_and_survives_restart() {
    let etcd = EtcdProcess::start();
    let mut s = etcd_server(&etcd);
    s.create(&configmap("in-etcd", "default", &[("backend", "etcd")]));
    let before = s.get_json(&["cm", "in-etcd"]);

    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3").args([
        "--endpoints",
        &etcd.endpoint,
        "get",
        "--prefix",
        "--keys-only",
        "/registry/configmaps/default/",
    ]);
    let out = run_with_timeout(cmd, None, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "etcdctl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = lines(&String::from_utf8_lossy(&out.stdout));
    assert!(
        keys.contains(&"/registry/configmaps/default/in-etcd".to_string()),
        "etcd keys: {keys:?}"
    );
    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3").args([
        "--endpoints",
        &etcd.endpoint,
        "get",
        "--prefix",
        "--keys-only",
        "/registry/namespaces/",
    ]);
    let out = run_with_timeout(cmd, None, Duration::from_secs(20));
    let keys = lines(&String::from_utf8_lossy(&out.stdout));
    assert!(
        keys.contains(&"/registry/namespaces/kube-system".to_string()),
        "etcd keys: {keys:?}"
    );

    // resourceVersion is the etcd revision: it can't exceed etcd's current revision.
    let rv: i64 = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3").args([
        "--endpoints",
        &etcd.endpoint,
        "endpoint",
        "status",
        "-w",
        "json",
    ]);
    let out = run_with_timeout(cmd, None, Duration::from_secs(20));
    let status: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("etcdctl endpoint status json");
    let etcd_rev = status[0]["Status"]["header"]["revision"]
        .as_i64()
        .expect("etcd revision");
    assert!(
        rv <= etcd_rev && rv > 1,
        "resourceVersion {rv} vs etcd revision {etcd_rev}"
    );

    assert!(s.stop().success());
    s.restart();
    assert_eq!(s.get_json(&["cm", "in-etcd"]), before);
}
