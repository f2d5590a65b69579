//! Server-side field validation as kubectl drives it: `--validate=strict` (the default) turns
//! unknown fields into the upstream strict decoding error, `--validate=warn` prints warnings
//! and the stored object has the unknown fields dropped.

use rkube_e2e::*;

const BAD: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: u\n  bogus: 1\ndata:\n  a: b\nextra: 2\n";

#[test]
fn unknown_fields_strict_warn_ignore() {
    let s = Server::start_default();
    let file = s.tmp().join("u.yaml");
    std::fs::write(&file, BAD).unwrap();
    let f = file.to_str().unwrap();

    let err = s.fails(&["apply", "-f", f]);
    assert!(
        err.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "extra", unknown field "metadata.bogus""#),
        "{err}"
    );
    assert!(!s.kc().exists(&["cm", "u"]));

    let out = s.kc().run(&["create", "-f", f, "--validate=warn"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(r#"Warning: unknown field "extra""#), "{stderr}");
    let cm = s.get_json(&["cm", "u"]);
    assert!(cm.get("extra").is_none() && cm["metadata"].get("bogus").is_none(), "unknown fields dropped: {cm}");

    // kubectl patch sends no fieldValidation: the default (Warn) warns and drops the field.
    let out = s.kc().run(&["patch", "cm", "u", "--type=merge", "-p", r#"{"nope":1}"#]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(r#"Warning: unknown field "nope""#), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("patched (no change)"));
    // Asked for explicitly, Strict refuses it as Invalid on the field `patch`.
    let r = s.request(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/u?fieldValidation=Strict",
        Auth::Admin,
        &[("Content-Type", "application/merge-patch+json")],
        Some(br#"{"nope":1}"#),
    );
    let st = r.expect_status(422, "Invalid");
    assert!(st["message"].as_str().unwrap().contains(r#"patch: Invalid value: "#), "{st}");
    assert!(st["message"].as_str().unwrap().contains(r#"strict decoding error: unknown field \"nope\""#) || st["message"].as_str().unwrap().contains(r#"strict decoding error: unknown field "nope""#), "{st}");
}
