//! `xtask`: developer tasks that generate committed source files.
//!
//! - `cargo run -p xtask -- gen-protobuf <dir> [<out>]`: regenerate
//!   `crates/rkube-api/src/protobuf/descriptors.rs` (the protobuf descriptor table) from
//!   checkouts of the Kubernetes API repositories under `<dir>`. `scripts/gen-protobuf.sh`
//!   clones the pinned tags and runs this. See [`gen_protobuf`].
//!
//! The crate has no dependencies and is kept out of the workspace's `default-members`.

mod gen_protobuf;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo run -p xtask -- gen-protobuf <dir-with-k8s-repos> [<out-file>]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen-protobuf") if (2..=3).contains(&args.len()) => {
            let out = args
                .get(2)
                .cloned()
                .unwrap_or_else(gen_protobuf::default_out);
            gen_protobuf::run(std::path::Path::new(&args[1]), std::path::Path::new(&out))
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
