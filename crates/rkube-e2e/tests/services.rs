//! Services end to end with fake nodes and the real kubectl: `kubectl expose` of a
//! Deployment gets a cluster IP from 10.43.0.0/16 and endpoints/EndpointSlices that follow the
//! pods; `kubectl create service` of every type (node port collisions get upstream's error,
//! LoadBalancers get the nodes' addresses, headless and ExternalName get no IP); the
//! `kubernetes` Service; `kubectl describe svc`.

use rkube_e2e::*;
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn endpoint_ips(s: &Server, name: &str) -> Vec<String> {
    let ep = s.get_json(&["endpoints", name]);
    let mut ips: Vec<String> = ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|ss| ss["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["ip"].as_str().map(String::from))
        .collect();
    ips.sort();
    ips
}

fn in_service_cidr(ip: &str) -> bool {
    ip.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|a| a.octets()[..2] == [10, 43])
}

#[test]
fn exposed_deployment_gets_a_cluster_ip_endpoints_and_slices() {
    let s = Server::with_fake_nodes(3, &[]);
    // The API server's own Service.
    let k = s.get_json(&["service", "kubernetes"]);
    assert_eq!(k["spec"]["clusterIP"], "10.43.0.1");
    assert_eq!(k["spec"]["ports"][0]["port"], 443);
    let kep = s.get_json(&["endpoints", "kubernetes"]);
    assert_eq!(kep["subsets"][0]["ports"][0]["name"], "https");
    assert!(s.kc().exists(&["endpointslice", "kubernetes"]));

    s.must(&["create", "deployment", "web", "--image=x", "--replicas=3"]);
    s.must(&[
        "expose",
        "deployment",
        "web",
        "--port=80",
        "--target-port=8080",
    ]);
    let svc = s.get_json(&["service", "web"]);
    let ip = svc["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(in_service_cidr(&ip), "cluster IP {ip}");
    let out = s.must(&["get", "svc", "web"]);
    assert_eq!(cell(&out, "web", "CLUSTER-IP"), ip);
    assert_eq!(cell(&out, "web", "PORT(S)"), "80/TCP");

    let mut ips = Vec::new();
    wait_until(WAIT, "3 endpoint addresses", || {
        ips = endpoint_ips(&s, "web");
        ips.len() == 3
    });
    let pods = s.get_json(&["pods", "-l", "app=web"]);
    let mut pod_ips: Vec<String> = pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["status"]["podIP"].as_str().map(String::from))
        .collect();
    pod_ips.sort();
    assert_eq!(ips, pod_ips);
    let out = s.must(&["get", "endpoints", "web"]);
    let eps = cell(&out, "web", "ENDPOINTS");
    assert!(eps.contains(":8080"), "{out}");

    let out = s.must(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
    ]);
    let rows = table(&out);
    assert_eq!(rows.len(), 2, "one slice: {out}");
    let slice = rows[1][0].clone();
    assert!(slice.starts_with("web-"), "{out}");
    assert_eq!(cell(&out, &slice, "ADDRESSTYPE"), "IPv4");
    assert_eq!(cell(&out, &slice, "PORTS"), "8080");
    let sl = s.get_json(&["endpointslice", &slice]);
    assert_eq!(
        sl["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(sl["endpoints"].as_array().map(Vec::len), Some(3));
    assert_eq!(sl["endpoints"][0]["conditions"]["ready"], true);

    let desc = s.must(&["describe", "svc", "web"]);
    let line = desc
        .lines()
        .find(|l| l.starts_with("Endpoints:"))
        .unwrap_or_default();
    assert!(line.contains(":8080"), "{desc}");
    assert!(
        desc.contains(&format!("IP:                       {ip}")) || desc.contains(&ip),
        "{desc}"
    );

    // Scaling down shrinks the endpoints.
    s.must(&["scale", "deployment", "web", "--replicas=1"]);
    wait_until(WAIT, "1 endpoint address", || {
        endpoint_ips(&s, "web").len() == 1
    });
    // Deleting the Service deletes its endpoints and slices.
    s.must(&["delete", "svc", "web"]);
    wait_until(WAIT, "endpoints and slices gone", || {
        !s.kc().exists(&["endpoints", "web"])
            && table(&s.must(&[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
            ]))
            .len()
                <= 1
    });
}

#[test]
fn create_service_of_every_type() {
    let mut s = Server::with_fake_nodes(2, &[]);
    s.must(&[
        "create",
        "service",
        "nodeport",
        "np",
        "--tcp=80:8080",
        "--node-port=30080",
    ]);
    let out = s.must(&["get", "svc", "np"]);
    assert_eq!(cell(&out, "np", "TYPE"), "NodePort");
    assert_eq!(cell(&out, "np", "PORT(S)"), "80:30080/TCP");
    let err = s.fails(&[
        "create",
        "service",
        "nodeport",
        "np2",
        "--tcp=80:8080",
        "--node-port=30080",
    ]);
    assert!(
        err.contains(r#"Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"#),
        "{err}"
    );
    // A requested cluster IP is honoured once.
    s.must(&[
        "create",
        "service",
        "clusterip",
        "fixed",
        "--tcp=80",
        "--clusterip=10.43.0.50",
    ]);
    let err = s.fails(&[
        "create",
        "service",
        "clusterip",
        "fixed2",
        "--tcp=80",
        "--clusterip=10.43.0.50",
    ]);
    assert!(
        err.contains(r#"spec.clusterIPs: Invalid value: []string{"10.43.0.50"}: failed to allocate IP 10.43.0.50: provided IP is already allocated"#),
        "{err}"
    );

    // LoadBalancer: the nodes' addresses, ServiceLB style.
    s.must(&["create", "service", "loadbalancer", "lb", "--tcp=80:8080"]);
    let nodes = s.get_json(&["nodes"]);
    let mut node_ips: Vec<String> = nodes["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|n| {
            n["status"]["addresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|a| a["type"] == "InternalIP")
        .filter_map(|a| a["address"].as_str().map(String::from))
        .collect();
    node_ips.sort();
    let mut lb = Value::Null;
    wait_until(WAIT, "load balancer ingress", || {
        lb = s.get_json(&["svc", "lb"]);
        lb["status"]["loadBalancer"]["ingress"]
            .as_array()
            .is_some_and(|i| i.len() == node_ips.len())
    });
    let out = s.must(&["get", "svc", "lb"]);
    assert_eq!(cell(&out, "lb", "EXTERNAL-IP"), node_ips.join(","));
    let np = lb["spec"]["ports"][0]["nodePort"].as_i64().unwrap_or(0);
    assert!((30000..=32767).contains(&np), "{lb}");

    // Headless and ExternalName get no cluster IP.
    s.must(&["create", "service", "clusterip", "hl", "--clusterip=None"]);
    let out = s.must(&["get", "svc", "hl"]);
    assert_eq!(cell(&out, "hl", "CLUSTER-IP"), "None");
    s.must(&[
        "create",
        "service",
        "externalname",
        "ext",
        "--external-name=example.com",
    ]);
    let out = s.must(&["get", "svc", "ext"]);
    assert_eq!(cell(&out, "ext", "TYPE"), "ExternalName");
    assert_eq!(cell(&out, "ext", "CLUSTER-IP"), "<none>");
    assert_eq!(cell(&out, "ext", "EXTERNAL-IP"), "example.com");

    // Deleting the NodePort Service frees its port.
    s.must(&["delete", "svc", "np"]);
    s.must(&[
        "create",
        "service",
        "nodeport",
        "np2",
        "--tcp=80:8080",
        "--node-port=30080",
    ]);

    // Allocations survive a restart: they are rebuilt from the stored Services.
    s.stop();
    s.restart();
    let err = s.fails(&[
        "create",
        "service",
        "clusterip",
        "fixed3",
        "--tcp=80",
        "--clusterip=10.43.0.50",
    ]);
    assert!(err.contains("provided IP is already allocated"), "{err}");
    let err = s.fails(&[
        "create",
        "service",
        "nodeport",
        "np3",
        "--tcp=80:8080",
        "--node-port=30080",
    ]);
    assert!(err.contains("provided port is already allocated"), "{err}");
}
