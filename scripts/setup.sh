#!/usr/bin/env bash
# Installs what edgeflow needs to build, run, test and benchmark on Debian 12.
# Idempotent: each step checks first, so a second run takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PKGS=(pkg-config cmake build-essential clang
          libuv1-dev libcjson-dev libcunit1-dev libpcre2-dev
          liblua5.4-dev libwebsockets-dev libpaho-mqtt-dev mosquitto mosquitto-clients openssl libcurl4-openssl-dev
          libyaml-dev libxml2-dev valgrind clang-format python3 python3-onnx python3-numpy
          libssl-dev libcrypt-dev zlib1g-dev wrk chromium fonts-liberation
          libsodium-dev libsqlite3-dev libpq-dev postgresql)

missing=()
for p in "${DEB_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm tools (node-red@4.1.15 reference runner, benchmarks, browser tests) live in
# tools/ with a committed lockfile. `npm ci` runs only when node_modules is
# missing or older than package.json / package-lock.json; npm ci writes
# node_modules/.package-lock.json last, so its mtime marks a complete install.
# ONNXRUNTIME_NODE_INSTALL=skip: onnxruntime-node's install script would fetch
# CUDA binaries from the internet; the CPU library the infer node loads is in
# the package itself (docs/infer.md).
if [ -f tools/package.json ]; then
    stamp=tools/node_modules/.package-lock.json
    if [ ! -f "$stamp" ] || [ tools/package.json -nt "$stamp" ] || \
       { [ -f tools/package-lock.json ] && [ tools/package-lock.json -nt "$stamp" ]; }; then
        command -v npm >/dev/null || { echo "setup: npm not found (Node.js 20 and npm are needed for tools/)" >&2; exit 1; }
        echo "setup: installing npm packages in tools/"
        (cd tools && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error)
        touch "$stamp"
    fi
fi
exit 0
