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

# The official Python SDK (the `cloudflare` package from PyPI) goes into target/py-clients, again
# only when requirements.txt is newer than the last install; tests/it/clients.rs runs it.
py_clients=target/py-clients
if [[ ! -f $py_clients/.installed || tests/clients/requirements.txt -nt $py_clients/.installed ]]; then
  rm -rf "$py_clients"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --root-user-action=ignore \
    --target "$py_clients" -r tests/clients/requirements.txt
  touch "$py_clients/.installed"
fi

# Fixtures with npm dependencies (tests/it/packages.rs) install theirs from their lockfiles, again
# only when a lockfile is newer than the last install (an npm workspace has one, at its root).
# fixtures/pnpm-layout has no lockfile: its node_modules is committed as pnpm lays it out.
while IFS= read -r lockfile; do
  project=$(dirname "$lockfile")
  if [[ ! -f $project/node_modules/.package-lock.json || $lockfile -nt $project/node_modules/.package-lock.json ]]; then
    npm ci --prefix "$project" --no-audit --no-fund --loglevel=error >/dev/null
  fi
done < <(find fixtures -name package-lock.json -not -path '*/node_modules/*' | sort)
# Cloudflare's hello-world-workflows template, unpacked from create-cloudflare (once).
scripts/template.sh target/templates

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Benchmarks are not tests: `--all-targets` would run them (see `cargo bench`).
cargo test --lib --bins --tests --locked
