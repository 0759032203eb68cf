#!/usr/bin/env bash
# Installs the Debian packages the test suite and the service need (independent checkers, Go's sumdb/tlog + note,
# fonts). Idempotent: installs only what is missing. Needs root (CI runs as root) or sudo.
set -euo pipefail
pkgs=(golang-go golang-golang-x-mod-dev poppler-utils zbar-tools openssl libnss3-tools fonts-wqy-zenhei chromium chromium-driver)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing Debian packages: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
