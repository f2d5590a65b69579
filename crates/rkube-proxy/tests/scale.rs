//! Sync cost at 1000 services × 10 endpoints, against the real kernel in a fresh network
//! namespace: the first (full) sync, one endpoint change (a diff), and the periodic
//! in-place rewrite. Run with
//! `cargo test -p rkube-proxy --test scale -- --ignored --nocapture`.

use crate::support;

use std::time::Instant;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use rkube_proxy::rules::Mode;
use rkube_proxy::sync::{desired, Syncer};
use serde_json::json;

const SERVICES: usize = 1000;
const ENDPOINTS: usize = 10;

fn objects(changed: bool) -> (Vec<Service>, Vec<EndpointSlice>) {
    let mut services = Vec::new();
    let mut slices = Vec::new();
    for i in 0..SERVICES {
        let name = format!("svc-{i}");
        services.push(
            serde_json::from_value(json!({
                "metadata": {"namespace": "default", "name": name},
                "spec": {"clusterIP": format!("10.43.{}.{}", i / 250, i % 250 + 1),
                         "ports": [{"name": "http", "port": 80}]}
            }))
            .unwrap(),
        );
        let eps: Vec<serde_json::Value> = (0..ENDPOINTS)
            .map(|e| {
                // The change: one endpoint of one service moves to a new address.
                let last = if changed && i == 500 && e == 0 {
                    250
                } else {
                    e + 1
                };
                json!({"addresses": [format!("10.42.{}.{}", i / 25, (i % 25) * 10 + last)],
                       "nodeName": "node-a", "conditions": {"ready": true}})
            })
            .collect();
        slices.push(
            serde_json::from_value(json!({
                "metadata": {"namespace": "default", "name": format!("{name}-1"),
                             "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "endpoints": eps,
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
            }))
            .unwrap(),
        );
    }
    (services, slices)
}

#[test]
#[ignore = "measurement; run with --ignored --nocapture"]
fn sync_time_at_1000_services_by_10_endpoints() {
    support::in_node_netns(|| async {
        let config = support::proxy_config();
        let (services, slices) = objects(false);
        let (services2, slices2) = objects(true);

        let t = Instant::now();
        let rs = desired(&config, &services, &slices);
        let compute = t.elapsed();
        let mut syncer = Syncer::new(config.clone());
        let t = Instant::now();
        let stats = syncer.apply(rs).await.unwrap();
        let full = t.elapsed();
        assert_eq!(stats.mode, Some(Mode::Recreate));
        println!(
            "full sync: {} chains, {} KiB script, model+rules {compute:?}, total {full:?}",
            stats.chains,
            stats.script_bytes / 1024
        );

        let t = Instant::now();
        let rs2 = desired(&config, &services2, &slices2);
        let stats = syncer.apply(rs2).await.unwrap();
        let one = t.elapsed();
        assert_eq!(stats.mode, Some(Mode::Diff));
        println!(
            "one endpoint change: {} bytes script, total (model+rules+nft) {one:?}",
            stats.script_bytes
        );

        let mut rewrite_cfg = config.clone();
        rewrite_cfg.full_sync_period = std::time::Duration::ZERO;
        let mut rewriter = Syncer::new(rewrite_cfg);
        rewriter
            .apply(desired(&config, &services, &slices))
            .await
            .unwrap();
        let t = Instant::now();
        let stats = rewriter
            .apply(desired(&config, &services, &slices))
            .await
            .unwrap();
        println!(
            "periodic rewrite: {:?} {} KiB, total {:?}",
            stats.mode,
            stats.script_bytes / 1024,
            t.elapsed()
        );
        rkube_proxy::cleanup().unwrap();
    });
}
