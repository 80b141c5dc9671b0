#!/bin/sh
# setup.sh [VENV_DIR] — the Whisper sidecar's virtualenv (default sidecars/whisper/.venv) with requirements.txt.
# Idempotent: a stamp of the requirements' hash skips pip when nothing changed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-$here/.venv}
python=${PYTHON:-python3}
stamp=$venv/.requirements.sha256
want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
echo "$want" > "$stamp"
echo "whisper sidecar: installed requirements into $venv" >&2
