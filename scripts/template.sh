#!/usr/bin/env bash
# Unpacks Cloudflare's own "hello-world-workflows" TypeScript template, as published in the
# create-cloudflare npm package, into <out>/hello-world-workflows for tests/it/packages.rs.
# Only the placeholders that create-cloudflare fills are filled (the Worker's name, the package
# name and the compatibility date); every other byte stays as published. Runtime dependencies,
# if the template ever has some, are installed with npm. Does nothing when the output exists.
#
# usage: scripts/template.sh <out>        (scripts/test.sh passes target/templates)
set -euo pipefail

version=2.74.0
name=hello-workflows
compatibility_date=2026-08-01

if [[ $# -ne 1 ]]; then
  echo "usage: $0 <out>" >&2
  exit 2
fi
out=$1
project=$out/hello-world-workflows
if [[ -d $project ]]; then
  exit 0
fi

mkdir -p "$out"
tarball=$out/create-cloudflare-$version.tgz
if [[ ! -f $tarball ]]; then
  npm pack "create-cloudflare@$version" --pack-destination "$out" --silent >/dev/null
fi

staging=$(mktemp -d "$out/.hello-world-workflows.XXXXXX")
trap 'rm -rf "$staging"' EXIT
tar -xzf "$tarball" -C "$staging" package/templates/hello-world-workflows/ts
template=$staging/package/templates/hello-world-workflows/ts

sed -i -e "s/<WORKER_NAME>/$name/g" -e "s/<COMPATIBILITY_DATE>/$compatibility_date/g" "$template/wrangler.jsonc"
sed -i -e "s/\"<PACKAGE_NAME>\"/\"$name\"/" "$template/package.json"
if grep -n '<[A-Z][A-Z_]*>' "$template/wrangler.jsonc" "$template/package.json" >&2; then
  echo "error: create-cloudflare@$version's template has a placeholder this script does not fill" >&2
  exit 1
fi

dependencies=$(node -p 'Object.keys(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).dependencies ?? {}).length' "$template/package.json")
if [[ $dependencies != 0 ]]; then
  npm install --prefix "$template" --omit=dev --no-audit --no-fund --loglevel=error >/dev/null
fi

mv "$template" "$project"
