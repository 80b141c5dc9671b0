# Sourced by every bench/*.sh script: strict mode, the repository root as working directory, the output folder
# ($OUT) and the Python that has the test tools ($PY).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

# speak_sentences DIR PREFIX SENTENCE...: each sentence in flite's rms and slt voices, 16 kHz mono with 0.3 s of
# silence before and after, as DIR/PREFIX<voice>-NN.wav; prints "<id>\t<sentence>" for each file.
speak_sentences() {
    local dir=$1 prefix=$2 tmp voice i text id
    shift 2
    tmp=$(mktemp -d)
    for voice in rms slt; do
        i=0
        for text in "$@"; do
            i=$((i + 1))
            id=$(printf '%s%s-%02d' "$prefix" "$voice" "$i")
            flite -voice "$voice" -t "$text" -o "$tmp/raw.wav"
            sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 "$dir/$id.wav" pad 0.3 0.3
            printf '%s\t%s\n' "$id" "$text"
        done
    done
    rm -rf "$tmp"
}
