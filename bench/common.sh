# Sourced by every bench/*.sh script: strict mode, the repository root as working directory, the output folder
# ($OUT) and the Python that has the test tools ($PY).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
