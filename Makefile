# realtime-voice — one command to run the server, one to run the tests, on a fresh Debian machine.
#
#   make run        installs what is missing (the Whisper sidecar's venv and models included), builds (release) and
#                   serves on the default engine, whisper: offline Mandarin and English (ARGS="..." go to serve)
#   make test       installs what is missing, checks the format, builds and runs every test (Swift and Python)
#   make test-fast  the edit loop (after make test has installed everything): Swift tests and the fast Python cases
#   make format     formats the Swift sources (swift-format, .swift-format); make test fails on unformatted code
#   make embed-scripts  copies clients/miniprogram/resumable-stream.js into the web page's Swift source (a test checks it)
#   make run-whisper   the same as make run (kept for old instructions)
#   make bench-mandarin  Mandarin and English accuracy, latency, capacity and memory of engine whisper (bench/mandarin.sh)
#   make bench      streaming benchmark (bench/stream.sh)
#   make bench-upload  upload benchmark (bench/upload.sh)
#   make bench-relay   Tencent relay benchmark (bench/relay.sh)
#   make bench-wer     accuracy (WER) and real-time capacity of pocketsphinx and openai + Whisper sidecar (bench/wer.sh)
#   make bench-latency streaming latency (first partial, final) of openai + Whisper sidecar against pocketsphinx (bench/latency.sh)
#   make bench-node    installs the seed's stack for bench-compare: Node, Debian's node-express and node-ws (and gcc)
#   make bench-compare the gateway against Node + Express + ws on the WebSocket echo (bench/compare.sh, ~10 min)
#   make bench-soak    load and soak: 1000 sessions in waves over 10 minutes, RSS, CPU, outcomes, crashes (bench/soak.sh)

SWIFT ?= swift
ARGS ?=
PYTHON ?= python3
VENV := .venv
# pytest-xdist workers for the Python suite: most cases wait on real-time audio, so 3 workers fit 2 cores.
PYTEST_WORKERS ?= 3

# Run time: the PocketSphinx engine and its US English model, the resampler, ffmpeg (decoding uploads).
RUN_PACKAGES := libpocketsphinx-dev pocketsphinx-en-us libsoxr-dev libwebrtc-audio-processing-dev pkg-config ffmpeg
# Tests: speech synthesis and real recordings, audio conversion, Python for the third-party clients, nginx and
# openssl for the deployment tests, headless Chromium for the web page test, Node (with Debian's ws) for the
# mini-program client test.
TEST_PACKAGES := pocketsphinx-testdata flite espeak-ng sox python3 python3-venv nginx-light openssl chromium chromium-driver nodejs node-ws

.PHONY: embed-scripts run run-whisper whisper-sidecar test test-fast format format-check deps test-deps build build-release swift-test python-test bench bench-upload bench-relay bench-wer bench-latency bench-mandarin bench-node bench-compare bench-soak clean

run: deps build-release whisper-sidecar
	.build/release/realtime-voice serve $(ARGS)

run-whisper: run

whisper-sidecar:
	@scripts/install-packages.sh python3 python3-venv curl
	@sidecars/whisper/setup.sh

test: deps test-deps format-check build swift-test python-test

# The edit loop: the Swift tests and the Python cases outside the slow areas (pytest.ini's markers).
test-fast: build swift-test
	$(VENV)/bin/python -m pytest tests/python -q -n $(PYTEST_WORKERS) -m "$(FAST_CASES)"

FAST_CASES := not slow and not conformance and not bad_input and not browser and not nginx and not node

# swift-format (the toolchain's, `swift format`) with .swift-format: the Swift sources as committed must be formatted.
format-check:
	$(SWIFT) format lint --strict --recursive --parallel Sources Tests Package.swift

embed-scripts:
	$(PYTHON) scripts/embed-resumable-stream.py

format:
	$(SWIFT) format --in-place --recursive --parallel Sources Tests Package.swift

deps:
	@scripts/install-packages.sh $(RUN_PACKAGES)

test-deps:
	@scripts/install-packages.sh $(TEST_PACKAGES)
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt
	@sidecars/whisper/setup.sh

build:
	$(SWIFT) build --build-tests

build-release:
	$(SWIFT) build -c release --product realtime-voice

# The Tencent streaming-session tests run a live WebSocket stand-in and time its answers: alone, so that the other
# suites' decoding on the 2-thread cooperative pool cannot starve it (beside them, 2 s timeouts fired).
TIMED_SUITES := RealtimeUpstreamTests

swift-test:
	$(SWIFT) test --skip-build --skip $(TIMED_SUITES)
	$(SWIFT) test --skip-build --filter $(TIMED_SUITES)

python-test:
	$(VENV)/bin/python -m pytest tests/python -q -n $(PYTEST_WORKERS)

bench-relay: deps test-deps
	bench/relay.sh

bench: deps test-deps
	bench/stream.sh

bench-upload: deps test-deps
	bench/upload.sh

bench-wer: deps test-deps
	bench/wer.sh

bench-latency: deps test-deps
	bench/latency.sh

bench-mandarin: deps test-deps build-release
	bench/mandarin.sh

bench-node:
	@scripts/install-packages.sh node-express nodejs node-ws gcc libc6-dev

bench-compare: deps test-deps build-release bench-node
	bench/compare.sh

bench-soak: deps test-deps build-release
	bench/soak.sh

clean:
	rm -rf .build $(VENV)
