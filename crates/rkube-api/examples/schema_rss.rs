//! Prints the anonymous resident memory (`RssAnon` of `/proc/self/status`) before and after each lazily
//! built schema table is first used, to see which one holds the memory of the first write:
//! `cargo run --release -p rkube-api --example schema_rss`.

use serde_json::json;

/// Anonymous memory only: the file-backed part (code pages of the binary) is not the heap.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field("RssAnon:")
}

fn step(label: &str, last: &mut u64, f: impl FnOnce()) {
    let start = std::time::Instant::now();
    f();
    let elapsed = start.elapsed();
    let now = rss_kib();
    println!(
        "{label:<40} rss {:>7} KiB  (+{:>6} KiB)  {:>8.1} ms",
        now,
        now.saturating_sub(*last),
        elapsed.as_secs_f64() * 1000.0
    );
    *last = now;
}

fn main() {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "default"},
        "data": {"a": "b"},
    });
    let raw = serde_json::to_vec(&cm).unwrap_or_default();
    let mut last = rss_kib();
    println!("{:<40} rss {last:>7} KiB", "start");
    let order: Vec<String> = std::env::args().skip(1).collect();
    let order: Vec<&str> = if order.is_empty() {
        vec!["typed", "fieldcheck", "ssa", "smp", "openapi", "v2"]
    } else {
        order.iter().map(String::as_str).collect()
    };
    for what in order {
        match what {
            "typed" => step("typed::check_types (ConfigMap)", &mut last, || {
                let _ = rkube_api::typed::check_types("", "v1", "ConfigMap", &cm);
            }),
            "fieldcheck" => step("fieldcheck::json_body_errors", &mut last, || {
                let _ = rkube_api::fieldcheck::json_body_errors("", "v1", "ConfigMap", &raw);
            }),
            "ssa" => step("ssa::track_update", &mut last, || {
                let _ = rkube_api::ssa::track_update(
                    "",
                    "v1",
                    "ConfigMap",
                    None,
                    &cm,
                    "kubectl",
                    None,
                    "2024-01-01T00:00:00Z",
                );
            }),
            "smp" => step("smp::apply", &mut last, || {
                let _ =
                    rkube_api::smp::apply("", "v1", "ConfigMap", &cm, &json!({"data": {"c": "d"}}));
            }),
            "openapi" => step("openapi::v3_index", &mut last, || {
                let _ = rkube_api::openapi::v3_index();
            }),
            "v2" => step("openapi::v2::v2_protobuf", &mut last, || {
                let _ = rkube_api::openapi::v2::v2_protobuf();
            }),
            "sizes" => {
                let total: usize = rkube_api::openapi::v3_paths()
                    .iter()
                    .filter_map(|p| rkube_api::openapi::v3_document_bytes(p))
                    .map(|(b, _)| b.len())
                    .sum();
                println!("openapi v3 documents: {total} bytes");
            }
            other => println!("unknown step {other}"),
        }
    }
}
