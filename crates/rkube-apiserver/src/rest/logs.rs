//! `GET pods/{name}/log` (`kubectl logs`). Upstream proxies this to the node's kubelet; here the
//! node agent running in the same process registers a [`PodLogs`] source that knows where its
//! CRI log files are, and this module reads and decodes them: the CRI log format
//! (`<RFC3339Nano> <stream> <P|F> <text>` per line, P = partial), `container`, `previous`,
//! `timestamps`, `tailLines`, `limitBytes` and `follow`. Pods on other nodes are served by their
//! node's kubelet (`/containerLogs/…`, through [`crate::kubelet`]), which uses the same
//! [`file_response`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::{decode_stored, Request};
use crate::error::{ApiError, ApiResult};

/// Where a node's container logs are; registered by the node agent of this process.
pub trait PodLogs: Send + Sync {
    /// The node whose pods this source serves.
    fn node(&self) -> &str;
    /// The log file of a container: the current run, or the one before (`previous`).
    fn file(
        &self,
        namespace: &str,
        pod: &str,
        uid: &str,
        container: &str,
        previous: bool,
    ) -> Option<PathBuf>;
}

/// Decodes the complete lines of CRI-format log bytes; returns the text and how many bytes
/// were consumed (a trailing incomplete line is left for later).
pub fn decode_cri(raw: &[u8], timestamps: bool, pending: &mut Vec<u8>) -> (Vec<u8>, usize) {
    decode_cri_since(raw, timestamps, pending, None)
}

/// [`decode_cri`], dropping lines written before `since` (`--since`, `--since-time`).
pub fn decode_cri_since(
    raw: &[u8],
    timestamps: bool,
    pending: &mut Vec<u8>,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut consumed = 0;
    while let Some(nl) = raw[consumed..].iter().position(|b| *b == b'\n') {
        let line = &raw[consumed..consumed + nl];
        consumed += nl + 1;
        let mut parts = line.splitn(4, |b| *b == b' ');
        let (Some(ts), Some(_stream), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let text = parts.next().unwrap_or_default();
        if let Some(since) = since {
            let at = std::str::from_utf8(ts)
                .ok()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            if at.is_some_and(|at| at < since) {
                if tag != b"P" {
                    pending.clear();
                }
                continue;
            }
        }
        if pending.is_empty() && timestamps {
            out.extend_from_slice(ts);
            out.push(b' ');
        }
        if tag == b"P" {
            pending.extend_from_slice(text);
            continue;
        }
        out.extend_from_slice(pending);
        pending.clear();
        out.extend_from_slice(text);
        out.push(b'\n');
    }
    (out, consumed)
}

fn tail(text: &[u8], lines: usize) -> &[u8] {
    if lines == 0 {
        return &text[text.len()..];
    }
    let mut seen = 0;
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == lines {
                return &text[i + 1..];
            }
        }
    }
    text
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect()
}

/// Serves `GET pods/{name}/log`.
pub async fn log(req: Request) -> ApiResult<Response> {
    let name = req.path.name.clone().unwrap_or_default();
    let key = req.key(&name);
    let info = req.info();
    let kv = req
        .srv
        .store
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(info, &name))?;
    let pod = decode_stored(&key, &kv.value)?;
    let containers = names(&pod["spec"]["containers"]);
    let inits = names(&pod["spec"]["initContainers"]);
    let ephemerals = names(&pod["spec"]["ephemeralContainers"]);
    let container = match req.query.nonempty("container") {
        Some(c) => c.to_string(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !inits.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    inits.join(" ")
                ));
            }
            if !ephemerals.is_empty() {
                msg.push_str(&format!(
                    " or one of the ephemeral containers: [{}]",
                    ephemerals.join(" ")
                ));
            }
            return Err(ApiError::bad_request(msg));
        }
    };
    if !containers.contains(&container)
        && !inits.contains(&container)
        && !ephemerals.contains(&container)
    {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    let previous = req.query.nonempty("previous") == Some("true");
    let status = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .chain(pod["status"]["initContainerStatuses"].as_array())
        .chain(pod["status"]["ephemeralContainerStatuses"].as_array())
        .flatten()
        .find(|s| s["name"] == container.as_str())
        .cloned();
    let started = status.as_ref().is_some_and(|s| {
        !s["state"]["running"].is_null()
            || !s["state"]["terminated"].is_null()
            || !s["lastState"]["terminated"].is_null()
    });
    if !started && !previous {
        let reason = status
            .as_ref()
            .and_then(|s| s["state"]["waiting"]["reason"].as_str())
            .unwrap_or("ContainerCreating");
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    }
    let node = pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ns = req.namespace().unwrap_or("default").to_string();
    let uid = pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let opts = LogOptions {
        timestamps: req.query.nonempty("timestamps") == Some("true"),
        tail_lines: req.query.nonempty("tailLines").and_then(|v| v.parse().ok()),
        limit_bytes: req
            .query
            .nonempty("limitBytes")
            .and_then(|v| v.parse().ok()),
        follow: req.query.nonempty("follow") == Some("true") && !previous,
        since: since(
            req.query.nonempty("sinceSeconds"),
            req.query.nonempty("sinceTime"),
        ),
    };
    let Some(source) = req.srv.pod_logs.get().filter(|s| s.node() == node).cloned() else {
        // Another node: its kubelet serves the same from its own files.
        let mut query = vec![("podUID", uid.clone())];
        for k in [
            "previous",
            "timestamps",
            "tailLines",
            "limitBytes",
            "follow",
        ] {
            if let Some(v) = req.query.nonempty(k) {
                query.push((k, v.to_string()));
            }
        }
        return crate::kubelet::get(
            &req.srv,
            &node,
            &format!("/containerLogs/{ns}/{name}/{container}"),
            &query,
        )
        .await;
    };
    let file = source
        .file(&ns, &name, &uid, &container, previous)
        .ok_or_else(|| {
            if previous {
                ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                ))
            } else {
                ApiError::bad_request(format!(
                    "no logs yet for container \"{container}\" in pod \"{name}\""
                ))
            }
        })?;
    let srv: Arc<crate::Server> = req.srv.clone();
    let followed = file.clone();
    let alive = move || {
        let (srv, key, uid, container, source, ns, name, file) = (
            srv.clone(),
            key.clone(),
            uid.clone(),
            container.clone(),
            source.clone(),
            ns.clone(),
            name.clone(),
            followed.clone(),
        );
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> =
            Box::pin(async move {
                let current = match srv.store.get(&key).await {
                    Ok(Some(kv)) => decode_stored(&key, &kv.value).ok(),
                    _ => None,
                };
                let running = current.is_some_and(|p| {
                    p["metadata"]["uid"] == uid.as_str()
                        && p["status"]["containerStatuses"]
                            .as_array()
                            .into_iter()
                            .chain(p["status"]["initContainerStatuses"].as_array())
                            .flatten()
                            .any(|s| {
                                s["name"] == container.as_str() && !s["state"]["running"].is_null()
                            })
                });
                running && source.file(&ns, &name, &uid, &container, false).as_ref() == Some(&file)
            });
        fut
    };
    Ok(file_response(file, opts, alive).await)
}

/// How to render a log file.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOptions {
    pub timestamps: bool,
    pub tail_lines: Option<usize>,
    pub limit_bytes: Option<usize>,
    pub follow: bool,
    /// Only lines written at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// `sinceSeconds` or `sinceTime` of a log request.
pub fn since(
    since_seconds: Option<&str>,
    since_time: Option<&str>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Some(secs) = since_seconds.and_then(|v| v.parse::<i64>().ok()) {
        return Some(chrono::Utc::now() - chrono::TimeDelta::seconds(secs));
    }
    since_time
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// A container's CRI log file as `text/plain`: the lines so far (`tail_lines`, `limit_bytes`),
/// then, when following, new lines as they are written. `alive` is asked about once a second
/// while following; the stream ends when it answers false.
pub async fn file_response<F>(file: PathBuf, opts: LogOptions, alive: F) -> Response
where
    F: Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + 'static,
{
    let raw = tokio::fs::read(&file).await.unwrap_or_default();
    let mut pending = Vec::new();
    let (text, consumed) = decode_cri_since(&raw, opts.timestamps, &mut pending, opts.since);
    let mut first = match opts.tail_lines {
        Some(n) => tail(&text, n).to_vec(),
        None => text,
    };
    if let Some(l) = opts.limit_bytes {
        first.truncate(l);
    }
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain");
    if !opts.follow {
        return builder.body(Body::from(first)).unwrap_or_default();
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(16);
    tokio::spawn(async move {
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        let mut offset = consumed;
        let mut ticks = 0u32;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = tx.closed() => return,
            }
            let raw = tokio::fs::read(&file).await.unwrap_or_default();
            if raw.len() > offset {
                let (text, used) =
                    decode_cri_since(&raw[offset..], opts.timestamps, &mut pending, opts.since);
                offset += used;
                if !text.is_empty() && tx.send(Ok(text)).await.is_err() {
                    return;
                }
            }
            ticks += 1;
            if ticks.is_multiple_of(5) && !alive().await {
                return;
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    builder.body(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_lines_partial_and_incomplete() {
        let raw = b"2026-01-01T00:00:00.1Z stdout F hello\n2026-01-01T00:00:00.2Z stderr P par\n2026-01-01T00:00:00.3Z stderr F tial\n2026-01-01T00:00:00.4Z stdout F cut";
        let mut pending = Vec::new();
        let (text, used) = decode_cri(raw, false, &mut pending);
        assert_eq!(String::from_utf8_lossy(&text), "hello\npartial\n");
        assert_eq!(
            used,
            raw.len() - "2026-01-01T00:00:00.4Z stdout F cut".len()
        );
        let (text, _) = decode_cri(b"2026-01-01T00:00:00.1Z stdout F a\n", true, &mut pending);
        assert_eq!(String::from_utf8_lossy(&text), "2026-01-01T00:00:00.1Z a\n");
    }

    #[test]
    fn since_drops_older_lines() {
        let raw =
            b"2026-01-01T00:00:01.5Z stdout F old\n2026-01-01T00:00:02.000000001Z stdout F new\n";
        let since = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:02Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let (text, _) = decode_cri_since(raw, false, &mut Vec::new(), Some(since));
        assert_eq!(String::from_utf8_lossy(&text), "new\n");
        assert!(super::since(Some("10"), None).is_some());
        assert!(super::since(None, Some("2026-01-01T00:00:02Z")).is_some());
    }

    #[test]
    fn tail_counts_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc\n", 5), b"a\nb\nc\n");
        assert_eq!(tail(b"a\nb\nc\n", 0), b"");
        assert_eq!(tail(b"a\nb\nc", 1), b"c");
    }
}
