"""Guards against Whisper's invented text: on silence and noise, known stock phrases, and repetition loops.

Pure functions over plain values, plus `decode_options()`, the faster-whisper options that go with them. The rules
(README.md has the measurements behind them):

1. Silence (Whisper's own rule): a segment with no_speech_prob > 0.6 and avg_logprob < -1.0 is dropped.
2. Looped silence: a segment with no_speech_prob > 0.6 is dropped when it is repetitive: its compression_ratio is
   above 2.4, or the segment next to it has the same text. With a single temperature faster-whisper has no fallback
   to retry such a window, and on digital silence or loud noise base answers a confident (avg_logprob -0.2 to -0.9)
   phrase repeated segment after segment ("我以為你會不會有事" x 10, "在那裡" x 5), which rule 1 lets through.
   A short loop inside one segment counts as repetitive too, though gzip cannot see it: 6 or more units (Han
   characters, other words) of which at most 40 % are distinct ("我认为你认为我认为你认为你认为" on 1 in 6 clips of
   2 s of pink noise: 15 characters, 4 distinct, compression ratio 1.61).
3. Stock phrases: a segment whose normalised text (punctuation and spaces stripped, Traditional → Simplified,
   case-folded) is one of `HALLUCINATIONS` ("谢谢观看", "字幕by索兰娅", "Thanks for watching!", ...) is dropped when it
   is the only thing said in the response and the model was not sure of it (no_speech_prob > 0.2 or
   avg_logprob < -1.0), or, anywhere, when no_speech_prob > 0.5. A "thank you" amid other speech (unless its window
   was probably silence), or said alone and clearly, is kept.
4. Repetition loops: a unit of 1 to 20 characters repeated 4 or more times in a row is collapsed (a single character
   to two of it, 哈哈哈哈哈 → 哈哈; a longer unit to one copy), and a cut-off copy right after the run is dropped
   too. The same applies to words (for word timestamps) and to whole segments that repeat the one before.
5. A cap on decoding: max_new_tokens from the audio length (12 tokens a second + 16, within the 448 the decoder
   takes), so a loop cannot run for 448 tokens per 30-second window.
6. Wrong script: when the decoding was in Chinese, a segment with letters but no Han character whose avg_logprob is
   below the logprob threshold is a failed decode (greedy base turns the end of a Mandarin sentence into
   "your war cheeks run"). The server re-decodes such a request once with beam search (`RETRY_BEAM_SIZE`), unless
   the gateway marked it as a partial (`realtime_voice_partial=true`); what is still in the wrong script after
   that is dropped. A Latin word said clearly ("OK", "iPhone") is kept.
7. Broken characters: Whisper's tokens are bytes, and a decoding cut by rule 5's cap (or a window's end) can stop
   inside a multi-byte character, which comes out as U+FFFD ("嘲嘎嘎\ufffd", seen on a Mandarin clip in the hotword
   bench). No speech is ever that character: it is removed from segments and words, and a word left empty goes.
"""
import dataclasses
import unicodedata
from dataclasses import dataclass

from chinese_text import t2s

MAX_TOKENS = 448  # Whisper's decoder context (text tokens, prompt included)
RETRY_BEAM_SIZE = 5  # rule 6: Whisper's own default beam


@dataclass(frozen=True)
class Thresholds:
    no_speech: float = 0.6  # Whisper's no_speech_threshold
    logprob: float = -1.0  # Whisper's logprob_threshold
    compression_ratio: float = 2.4  # Whisper's compression_ratio_threshold
    tokens_per_second: float = 12.0
    min_repeats: int = 4
    max_unit: int = 20


# Stock phrases Whisper writes over silence, noise and music (from subtitles of videos in its training data),
# normalised with normalise(). Only whole segments are compared, never parts of them.
_STOCK_PHRASES = (
    # Chinese
    "字幕by索兰娅", "字幕by索兰雅", "字幕:索兰娅", "索兰娅", "谢谢观看", "谢谢大家观看", "感谢观看", "谢谢收看", "感谢收看",
    "谢谢大家", "谢谢观赏", "多谢观看", "请不吝点赞订阅转发打赏支持明镜与点点栏目", "明镜与点点栏目", "点赞订阅转发打赏",
    "请订阅我的频道", "订阅我的频道", "请订阅", "欢迎订阅", "记得订阅", "中文字幕", "字幕志愿者", "字幕由amara.org社区提供",
    "由amara.org社区提供的字幕", "优优独播剧场yoyotelevisionseriesexclusive", "本期视频就到这里", "我们下期再见", "下期再见",
    "拜拜", "再见",
    # English
    "thank you", "thank you.", "thanks", "thank you very much", "thank you for watching", "thanks for watching",
    "thanks for watching!", "thank you so much for watching", "please subscribe", "please like and subscribe",
    "like and subscribe", "subscribe to my channel", "don't forget to like and subscribe", "bye", "bye bye", "you",
    "subtitles by the amara.org community", "subtitles by amara.org", "transcription by castingwords",
    "see you next time", "see you in the next video", "i'll see you next time",
)


def normalise(text: str) -> str:
    """For comparing with HALLUCINATIONS: Simplified, case-folded, without punctuation, symbols or spaces."""
    return "".join(c for c in t2s(text).casefold() if unicodedata.category(c)[0] not in "PSZC")


HALLUCINATIONS = frozenset(normalise(p) for p in _STOCK_PHRASES)


def is_silence(no_speech_prob: float, avg_logprob: float, compression_ratio: float,
               thresholds: Thresholds = Thresholds()) -> bool:
    """Rules 1 and 2: the window was probably silence, and what was decoded is unsure or looped."""
    return no_speech_prob > thresholds.no_speech and (
        avg_logprob < thresholds.logprob or compression_ratio > thresholds.compression_ratio)


def is_stock_phrase(text: str, no_speech_prob: float, avg_logprob: float, alone: bool,
                    thresholds: Thresholds = Thresholds()) -> bool:
    """Rule 3. `alone`: no other segment of the response has text."""
    if normalise(text) not in HALLUCINATIONS:
        return False
    if no_speech_prob > 0.5:
        return True
    return alone and (no_speech_prob > 0.2 or avg_logprob < thresholds.logprob)


def is_looped(text: str, min_units: int = 6, max_distinct: float = 0.4) -> bool:
    """Rule 2's short loop: the text's units (Han characters, and words of other letters and digits) are at least
    `min_units`, and at most `max_distinct` of them are distinct."""
    units, word = [], ""
    for c in t2s(text).casefold():
        if _is_han(c) or unicodedata.category(c)[0] not in "LN":
            if word:
                units.append(word)
                word = ""
            if _is_han(c):
                units.append(c)
        else:
            word += c
    if word:
        units.append(word)
    return len(units) >= min_units and len(set(units)) <= max_distinct * len(units)


def _is_han(c: str) -> bool:
    o = ord(c)
    return 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3134F


def is_wrong_script(text: str, avg_logprob: float, language: str | None, thresholds: Thresholds = Thresholds()) -> bool:
    """Rule 6: in a Chinese decoding, an unsure segment with letters and not one Han character."""
    if language != "zh" or avg_logprob >= thresholds.logprob:
        return False
    letters = [c for c in text if unicodedata.category(c)[0] == "L"]
    return bool(letters) and not any(_is_han(c) for c in letters)


def needs_retry(segments: list, language: str | None, thresholds: Thresholds = Thresholds()) -> bool:
    """Rule 6: whether a decoding has a wrong-script segment (that is not silence, which rules 1-2 drop anyway)."""
    return any(is_wrong_script(s.text, s.avg_logprob, language, thresholds)
               and not is_silence(s.no_speech_prob, s.avg_logprob, s.compression_ratio, thresholds) for s in segments)


def decode(transcribe, options: dict, thresholds: Thresholds = Thresholds()) -> tuple[list, object, list | None]:
    """Rule 6 around one decoding. `transcribe(options)` returns faster-whisper's (segments, info); when its segments
    have a wrong-script one and `options["beam_size"]` is below RETRY_BEAM_SIZE, the audio is decoded once more with
    beam search. Returns the segments (a list), the info, and the first decoding's segments when it was decoded
    again (else None)."""
    segments, info = transcribe(options)
    segments = list(segments)
    if options.get("beam_size", 1) >= RETRY_BEAM_SIZE or not needs_retry(segments, info.language, thresholds):
        return segments, info, None
    retried, info = transcribe(options | {"beam_size": RETRY_BEAM_SIZE})
    return list(retried), info, segments


def _has_content(unit) -> bool:
    return any(unicodedata.category(c)[0] in "LN" for item in unit for c in item)


def collapse_runs(items: list, min_repeats: int = 4, max_unit: int = 20, key=None, keep_single: int = 2) -> list:
    """Rule 4 over any sequence (characters, words, segments): a unit of 1..max_unit items repeated at least
    min_repeats times in a row is kept `keep_single` times when it is one item and once when it is longer, and a
    cut-off copy right after the run (a proper prefix of a longer unit) is dropped too. Units without a letter or
    digit (spaces, "...", "!!!!") are left alone. `key` maps an item to what is compared (default: the item)."""
    keys = [key(x) for x in items] if key else list(items)
    out, i, n = [], 0, len(items)
    while i < n:
        collapsed = False
        for size in range(1, max_unit + 1):
            if i + size * min_repeats > n:
                break
            unit = keys[i:i + size]
            if not _has_content(unit):
                continue
            count = 1
            while keys[i + count * size:i + (count + 1) * size] == unit:
                count += 1
            if count >= min_repeats:
                out.extend(items[i:i + (keep_single if size == 1 else 1) * size])
                i += count * size
                tail = 0
                while size > 1 and tail < size - 1 and i + tail < n and keys[i + tail] == unit[tail]:
                    tail += 1
                i += tail
                collapsed = True
                break
        if not collapsed:
            out.append(items[i])
            i += 1
    return out


def collapse_repeats(text: str, min_repeats: int = 4, max_unit: int = 20) -> str:
    """Rule 4 on the characters of a text. A last copy without the unit's trailing space still counts
    ("Sorry. Sorry. Sorry. Sorry." is four copies of "Sorry. ")."""
    padded = not text.endswith(" ")
    out = "".join(collapse_runs(list(text + " " if padded else text), min_repeats, max_unit))
    return out[:-1] if padded and out.endswith(" ") else out


def apply(segments: list, thresholds: Thresholds = Thresholds(),
          language: str | None = None) -> tuple[list, list[tuple[str, str]]]:
    """Rules 1 to 4, 6 and 7 over a transcription's segments (objects like faster-whisper's Segment, a dataclass with
    text, avg_logprob, no_speech_prob, compression_ratio and words) decoded in `language`. Returns the kept segments
    (copies, with collapsed text and words) and what was dropped, as (rule, text) pairs for the log."""
    dropped = []
    segments = without_broken_characters(segments, dropped)
    keys = [normalise(s.text) for s in segments]
    kept = []
    for i, s in enumerate(segments):
        repeated = bool(keys[i]) and ((i > 0 and keys[i - 1] == keys[i]) or (i + 1 < len(keys) and keys[i + 1] == keys[i]))
        if is_silence(s.no_speech_prob, s.avg_logprob, s.compression_ratio, thresholds) or (
                s.no_speech_prob > thresholds.no_speech and (repeated or is_looped(s.text))):
            dropped.append(("silence", s.text))
        elif is_wrong_script(s.text, s.avg_logprob, language, thresholds):
            dropped.append(("wrong script", s.text))
        else:
            kept.append(s)
    # whole segments that repeat the one before: one copy
    before = len(kept)
    kept = collapse_runs(kept, thresholds.min_repeats, thresholds.max_unit, key=lambda s: normalise(s.text), keep_single=1)
    if len(kept) < before:
        dropped.append(("repeated segments", f"{before - len(kept)} segments"))
    cleaned = []
    for s in kept:
        text = collapse_repeats(s.text, thresholds.min_repeats, thresholds.max_unit)
        words = s.words
        if words:
            words = collapse_runs(list(words), thresholds.min_repeats, thresholds.max_unit, key=lambda w: normalise(w.word))
        if text != s.text:
            dropped.append(("repetition", s.text))
        if normalise(text):
            cleaned.append(dataclasses.replace(s, text=text, words=words))
        elif s.text.strip():
            dropped.append(("empty", s.text))
    spoken = [s for s in cleaned if normalise(s.text)]
    out = []
    for s in cleaned:
        if is_stock_phrase(s.text, s.no_speech_prob, s.avg_logprob, alone=len(spoken) == 1, thresholds=thresholds):
            dropped.append(("stock phrase", s.text))
        else:
            out.append(s)
    return out, dropped


BROKEN = "\ufffd"


def without_broken_characters(segments: list, dropped: list[tuple[str, str]]) -> list:
    """Rule 7: U+FFFD out of the segments' text and words (copies); a note in `dropped` for each segment changed."""
    out = []
    for s in segments:
        if BROKEN not in s.text and not any(BROKEN in w.word for w in s.words or []):
            out.append(s)
            continue
        dropped.append(("broken character", s.text))
        words = s.words
        if words:
            words = [dataclasses.replace(w, word=w.word.replace(BROKEN, "")) for w in words if w.word.replace(BROKEN, "").strip()]
        out.append(dataclasses.replace(s, text=s.text.replace(BROKEN, ""), words=words))
    return out


def max_new_tokens(audio_seconds: float, prompt_tokens: int = 0, thresholds: Thresholds = Thresholds()) -> int:
    """Rule 5: a token budget for each 30-second window, from the audio it holds, within the decoder's context.

    `prompt_tokens` is the length of the decoder prompt (the initial prompt, <|startofprev|> and the start tokens)."""
    seconds = min(max(audio_seconds, 0.0), 30.0)
    return max(1, min(int(thresholds.tokens_per_second * seconds) + 16, MAX_TOKENS - prompt_tokens))


def decode_options(audio_seconds: float, prompt_tokens: int = 0, thresholds: Thresholds = Thresholds()) -> dict:
    """faster-whisper transcribe() options for the guards (the decoder's own silence skip uses the same thresholds)."""
    return dict(
        max_new_tokens=max_new_tokens(audio_seconds, prompt_tokens, thresholds),
        no_speech_threshold=thresholds.no_speech,
        log_prob_threshold=thresholds.logprob,
        compression_ratio_threshold=thresholds.compression_ratio,
        condition_on_previous_text=False,  # a loop in one window must not seed the next
    )
