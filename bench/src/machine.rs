//! Facts about the machine the numbers come from.

use crate::report::Table;
use std::process::Command;

fn first_line_of(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines().next().map(|l| l.trim().to_string())
}

/// `etcd --version`'s version number, or "missing".
pub fn etcd_version() -> String {
    let bin = std::env::var("ETCD_BIN").unwrap_or_else(|_| "/usr/bin/etcd".into());
    first_line_of(&bin, &["--version"])
        .and_then(|l| l.split_whitespace().last().map(String::from))
        .unwrap_or_else(|| "missing".into())
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn mem_total() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .map(|l| l.trim_start_matches("MemTotal:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn tmp_fs() -> String {
    let dir = std::env::temp_dir();
    first_line_of(
        "sh",
        &[
            "-c",
            &format!("df -T {} | tail -1 | awk '{{print $2}}'", dir.display()),
        ],
    )
    .map(|fs| format!("{} ({fs})", dir.display()))
    .unwrap_or_else(|| dir.display().to_string())
}

/// Median and p99 time of a 4 KiB write + fdatasync in the temp dir (what a store commit
/// costs at least on this disk).
fn fsync_probe() -> String {
    use std::io::{Seek, SeekFrom, Write};
    let probe = || -> std::io::Result<String> {
        let mut f = tempfile::tempfile()?;
        let block = vec![7u8; 4096];
        let mut times = Vec::new();
        for i in 0..300u64 {
            f.seek(SeekFrom::Start((i % 64) * 4096))?;
            let t = std::time::Instant::now();
            f.write_all(&block)?;
            f.sync_data()?;
            times.push(t.elapsed());
        }
        let s = crate::stats::summarize(times);
        Ok(format!(
            "p50 {}, p99 {} (4 KiB write + fdatasync, 300 times)",
            crate::stats::ms(s.p50),
            crate::stats::ms(s.p99)
        ))
    };
    probe().unwrap_or_else(|e| format!("probe failed: {e}"))
}

pub fn table() -> Table {
    let mut t = Table::new("Machine", &["fact", "value"]);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    t.row(vec![
        "CPUs (available parallelism)".into(),
        cpus.to_string(),
    ]);
    t.row(vec!["CPU model".into(), cpu_model()]);
    t.row(vec!["memory".into(), mem_total()]);
    t.row(vec![
        "kernel".into(),
        first_line_of("uname", &["-sr"]).unwrap_or_default(),
    ]);
    t.row(vec!["etcd".into(), etcd_version()]);
    t.row(vec!["temp dir (store files, etcd data)".into(), tmp_fs()]);
    t.row(vec!["fsync cost in the temp dir".into(), fsync_probe()]);
    t
}
