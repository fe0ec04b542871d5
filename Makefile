# The two commands (see README):  make demo   and   make test
# Both install what is missing (scripts/setup.sh), build incrementally, then run.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/end2end/node_modules/.bin:$(PATH)
export CARGO_TERM_COLOR ?= never

.PHONY: demo test check setup setup-test site server unit e2e bench clean-demo setup-image server-release image image-test fuzz

demo: setup site server
	./target/debug/wharf demo

test: setup-test site server unit e2e image-test

setup:
	@bash scripts/setup.sh

# What `make setup` installs, plus the real kube-apiserver the real-cluster tests start.
setup-test:
	@bash scripts/setup.sh --real-cluster

# Style and lints: one format (rustfmt.toml), clippy with warnings as errors for the host
# crates and for the Wasm build of the pages. CI runs it before `make test`.
check: setup
	cargo fmt --all --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p wharf-frontend --target wasm32-unknown-unknown -- -D warnings

# The console's Wasm side, built by Trunk into dist/ (offline: tools come from setup).
site:
	trunk build --offline

server:
	cargo build -p wharf-server

# Unit and integration tests of every crate but the Wasm entry (see Cargo.toml default-members).
unit:
	cargo nextest run --no-fail-fast

# The Playwright suite in Debian's Chromium against a fresh `wharf demo`; then the specs of
# what reads the log bucket (logs, pipelines' run logs, terminal recordings) against a fresh
# `wharf demo --shared-logs` (node agents, SeaweedFS).
e2e:
	cargo build -p wharf-tests --bin wharf-test-ldap
	cd end2end && npx playwright test
	cd end2end && npx playwright test -c playwright.shared.config.ts

bench:
	cargo bench -p wharf-sim --bench scale
	cargo bench -p wharf-logstore --bench window
	cargo bench -p wharf-tests --bench console_scale
	cargo bench -p wharf-ngx --bench reload
	cargo bench -p wharf-tests --bench nginx_event_to_traffic
	cargo bench -p wharf-tests --bench nginx_churn
	cargo bench -p wharf-tests --bench terminal_roundtrip
	cargo bench -p wharf-tests --bench dashboard
	cargo bench -p wharf-tests --bench load
	# the chart drawn in Chromium, from a release build of the site (not dist/, which is a debug build)
	trunk build --offline --release --dist target/bench-site
	node end2end/bench/chart.mjs target/bench-site
	# the Pods tab of a 20,000-pod tenant, 100 pods changing a second, in Chromium (the script
	# starts its server side: cargo bench -p wharf-tests --bench pods_browser)
	node end2end/bench/pods.mjs target/bench-site

# Fuzzing of the parsers that read what tenants write (fuzz/, a crate outside the workspace):
# each target for FUZZ_SECONDS. Not part of `make test`. Crashes land in fuzz/artifacts/<target>/.
# NB: cargo-fuzz builds with `-Zsanitizer=address` and other flags only nightly compilers accept;
# RUSTC_BOOTSTRAP=1 makes the stable toolchain accept them, so no nightly is needed.
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := directive cri_line pod_security

fuzz:
	@cargo fuzz --version 2>/dev/null | grep -qx 'cargo-fuzz $(CARGO_FUZZ_VERSION)' \
	  || cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked
	for t in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

clean-demo:
	rm -rf .wharf/demo

# The container image, built without a registry or a Docker daemon (scripts/image.sh): Debian's
# buildah packages the binary and site built here (the Dockerfile's `prebuilt` target) on a
# Debian 12 base it makes with mmdebstrap, into target/image/wharf.oci.tar.
#   make image                  a release build (binary and site) first
#   make image PROFILE=debug    packages target/debug/wharf and dist/ as they are (what the test does)
PROFILE ?= release

setup-image:
	@bash scripts/setup.sh --image

server-release:
	cargo build --release -p wharf-server
	trunk build --offline --release --dist target/release/dist

image: setup-image $(if $(filter debug,$(PROFILE)),server site,server-release)
	PROFILE=$(PROFILE) TARGET_DIR='$(TARGET_DIR)' \
	  DIST_DIR='$(or $(DIST_DIR),$(if $(filter debug,$(PROFILE)),dist,target/release/dist))' bash scripts/image.sh

# The image's test (tests/image/run.sh): a debug image, unpacked and run from its own root
# filesystem against the demo cluster; deploy/ dry-run on the demo cluster and applied with
# `kubectl apply -k` on a real kube-apiserver 1.20.2. TARGET_DIR and DIST_DIR may point at a
# binary and site built elsewhere.
image-test: setup-test setup-image server site
	TARGET_DIR='$(TARGET_DIR)' DIST_DIR='$(DIST_DIR)' bash tests/image/run.sh
