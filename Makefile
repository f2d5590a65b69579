# rkube: `make run` starts a cluster, `make test` runs every test (see README.md).
# Both install the system packages they need (Debian/Ubuntu, apt-get) when missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

CARGO ?= cargo
DATA_DIR ?= /var/lib/rkube
BIND_ADDRESS ?= 0.0.0.0
PORT ?= 6443
# Extra arguments for `rkube server`, e.g. SERVER_ARGS='--datastore-endpoint http://127.0.0.1:2379'
SERVER_ARGS ?=

APT_PACKAGES := etcd-server etcd-client protobuf-compiler curl openssl \
  containerd runc containernetworking-plugins busybox-static nftables iproute2
# Only the tests need these: a local image registry and skopeo to push images to it.
TEST_APT_PACKAGES := docker-registry skopeo
DEPS_PACKAGES = $(APT_PACKAGES)

.PHONY: all deps build build-release run test e2e clippy fmt clean

all: build

## Install the missing system packages (only those that are missing).
deps:
	@missing=""; \
	for p in $(DEPS_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo=sudo; fi; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install a Rust toolchain (https://rustup.rs)"; exit 1; }

build: deps
	$(CARGO) build -p rkube

build-release: deps
	$(CARGO) build --release -p rkube

## Start a single-node control plane in the foreground (Ctrl-C stops it).
run: build-release
	@mkdir -p "$(DATA_DIR)"
	@echo "starting rkube server (data dir $(DATA_DIR), https://$(BIND_ADDRESS):$(PORT))"
	@echo "in another shell:"
	@echo "  export KUBECONFIG=$(DATA_DIR)/kubeconfig.yaml"
	@echo "  kubectl get nodes"
	exec target/release/rkube server --data-dir "$(DATA_DIR)" --bind-address "$(BIND_ADDRESS)" \
	  --https-listen-port "$(PORT)" $(SERVER_ARGS)

## Build, run every test (unit, component, e2e with the real kubectl), then clippy.
# The e2e tests use the dev-profile binary at target/debug/rkube, built first.
test: DEPS_PACKAGES = $(APT_PACKAGES) $(TEST_APT_PACKAGES)
test: deps
	@command -v kubectl >/dev/null || { echo "kubectl not found on PATH: the e2e tests drive the real kubectl"; exit 1; }
	@python3 -c 'import kubernetes' 2>/dev/null || { echo "installing the Kubernetes Python client (a second real client for the e2e tests)"; python3 -m pip install -q kubernetes; }
	$(CARGO) build -p rkube
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  echo "+ $(CARGO) test --workspace --doc"; $(CARGO) test --workspace --doc; \
	  echo "+ $(CARGO) nextest run --workspace"; \
	  $(CARGO) nextest run --workspace --no-fail-fast --tool-config-file "rkube:$(CURDIR)/scripts/nextest.toml"; \
	else \
	  echo "+ $(CARGO) test --workspace --no-fail-fast"; $(CARGO) test --workspace --no-fail-fast; \
	fi
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check

## Only the end-to-end tests.
e2e: DEPS_PACKAGES = $(APT_PACKAGES) $(TEST_APT_PACKAGES)
e2e: deps
	$(CARGO) build -p rkube
	$(CARGO) test -p rkube-e2e

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
