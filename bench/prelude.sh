# Sourced by bench/stream.sh, upload.sh and relay.sh: bench/common.sh, then a release build.
source "$(dirname "$0")/common.sh"
swift build -c release 2>&1 | grep -E "error|Compiling|Build complete" | tail -1
