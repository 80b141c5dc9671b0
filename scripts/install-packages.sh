#!/usr/bin/env bash
# Installs the Debian packages given as arguments, if any is missing. Elsewhere, says what to install.
set -euo pipefail

if [ ! -f /etc/debian_version ]; then
    missing_tools=""
    for tool in pkg-config; do command -v "$tool" >/dev/null || missing_tools="$missing_tools $tool"; done
    if ! pkg-config --exists pocketsphinx soxr 2>/dev/null; then
        echo "Not Debian: install PocketSphinx (with its en-us model) and libsoxr yourself, e.g. on macOS:" >&2
        echo "  brew install cmu-pocketsphinx libsoxr pkg-config flite sox" >&2
        exit 1
    fi
    exit 0
fi

missing=()
for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
