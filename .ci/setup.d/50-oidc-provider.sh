#!/usr/bin/env bash
# oidc-provider (npm), the real OAuth 2.0 authorization server of the resource-server tests,
# installed into var/ci/oidc-provider from the committed tests/peers/oidc/package*.json.
# Idempotent: does nothing when the installed lock file matches the committed one.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=var/ci/oidc-provider
if [[ -d $target/node_modules/oidc-provider ]] && cmp -s tests/peers/oidc/package-lock.json "$target/package-lock.json"; then
  exit 0
fi
mkdir -p "$target"
cp tests/peers/oidc/package.json tests/peers/oidc/package-lock.json "$target/"
(cd "$target" && npm ci --no-audit --no-fund --loglevel=error)
