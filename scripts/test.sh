#!/usr/bin/env bash
# The one test command: formatting, lints, then every test (unit and integration).
# It needs only a Rust toolchain; cargo fetches every crate.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
