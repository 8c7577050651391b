#!/usr/bin/env bash
# The one test command: formatting, lints, then every test (unit and integration).
# It needs a Rust toolchain (cargo fetches every crate) and Node 20+ with npm, which installs the
# official clients that tests/it/clients.rs runs against stepflare.
set -euo pipefail
cd "$(dirname "$0")/.."

# The clients (the cloudflare SDK, wrangler and the Node 22 binary wrangler needs) go into
# tests/clients/node_modules, again only when package-lock.json is newer than the last install.
# The Node 22 binary is downloaded by the `node` package's preinstall script; npm 11 runs it
# because package.json lists it under `allowScripts` (older npm runs install scripts anyway).
clients=tests/clients
if [[ ! -f $clients/node_modules/.package-lock.json || $clients/package-lock.json -nt $clients/node_modules/.package-lock.json ]]; then
  npm ci --prefix "$clients" --no-audit --no-fund
fi
node_version=$("$clients/node_modules/.bin/node" --version)
if [[ $node_version != v22.* ]]; then
  echo "error: $clients/node_modules/.bin/node is $node_version, expected v22 (was its install script blocked?)" >&2
  exit 1
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Benchmarks are not tests: `--all-targets` would run them (see `cargo bench`).
cargo test --lib --bins --tests --locked
