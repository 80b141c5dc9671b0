# Sourced by the bench/*.sh scripts: repository root, output folder, Python, a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
swift build -c release 2>&1 | grep -E "error|Compiling|Build complete" | tail -1
