#!/usr/bin/env bash
# Regenerate crates/rkube-api/src/protobuf/descriptors.rs from the Kubernetes API repositories.
#
#   scripts/gen-protobuf.sh [TAG]        # TAG defaults to v0.33.13 (Kubernetes 1.33)
#
# Shallow-clones kubernetes/{api,apimachinery,apiextensions-apiserver,kube-aggregator} at TAG into
# a temporary directory (nothing upstream is committed here), then runs the xtask generator.
set -euo pipefail
tag="${1:-v0.33.13}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for repo in api apimachinery apiextensions-apiserver kube-aggregator; do
  git clone --quiet --depth 1 --branch "$tag" "https://github.com/kubernetes/$repo" "$work/$repo"
  echo "$tag ($(git -C "$work/$repo" rev-parse HEAD))" > "$work/$repo/.version"
done
cd "$root"
cargo run --quiet -p xtask -- gen-protobuf "$work"
