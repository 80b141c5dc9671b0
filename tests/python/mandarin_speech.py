"""Mandarin test speech without recordings, and the character error rate to score it.

Debian's espeak-ng has no hanzi dictionary for Mandarin (its `cmn` voice reads characters as tone digits), but its
`cmn-latn-pinyin` voice reads tone-numbered pinyin. So a sentence goes characters → pinyin (PyPI `pypinyin`) →
espeak-ng → sox (16 kHz mono 16-bit). The speech is robotic: use it for relative measurements (gateway against a
direct decode of the same file, one setting against another), not as an absolute accuracy claim.

    from mandarin_speech import SENTENCES, corpus, cer
    for path, reference in corpus():
        ... cer(reference, recognised_text) ...

Clips are cached by (voice, speed, text) in `directory` (default: realtime-voice-speech-cache under the system
temporary folder), so repeated runs do not synthesise again. Needs `espeak-ng` and `sox` on PATH.
"""
import hashlib
import os
import re
import subprocess
import tempfile
import unicodedata
from pathlib import Path

from pypinyin import Style, lazy_pinyin

# Everyday requests, Simplified characters, numbers written in characters (三点半, not 3:30) so that the reference
# is unambiguous. Weather, times, numbers, addresses, shopping, transport, restaurants.
SENTENCES = [
    "今天北京的天气怎么样？",
    "明天早上八点叫我起床。",
    "帮我订一张去上海的火车票。",
    "下午三点半我们在公司门口见面。",
    "这件衣服多少钱？",
    "请给我来两碗牛肉面。",
    "附近有没有地铁站？",
    "我想去人民广场，怎么走？",
    "明天会不会下雨？",
    "把空调调到二十六度。",
    "我的电话号码是一三八零零一二三四五六。",
    "请问洗手间在哪里？",
    "周末我们去超市买点水果吧。",
    "这家饭店的菜很好吃。",
    "我要一杯热咖啡，不要加糖。",
    "去机场的出租车大概要多长时间？",
    "我家住在中山路一百二十号。",
    "现在几点了？",
    "帮我查一下明天的航班。",
    "这个苹果一斤五块钱。",
    "晚上七点提醒我给妈妈打电话。",
    "公共汽车站就在银行旁边。",
    "我们点一个大份的宫保鸡丁。",
    "下个星期上海的气温会升高吗？",
    "请把音乐的声音调小一点。",
    "我想预订今天晚上六个人的桌子。",
]

# English counterparts of a few of the requests, for mixed checks (espeak-ng en-us or flite).
ENGLISH_SENTENCES = [
    "what is the weather like in beijing today",
    "wake me up at eight tomorrow morning",
    "book me a train ticket to shanghai",
    "how much is this shirt",
    "is there a subway station nearby",
]

# Both checked with `espeak-ng --voices=cmn` and by synthesising every sentence: the default male voice and the
# f2 female variant (a higher pitch, a different formant set).
VOICES = ["cmn-latn-pinyin", "cmn-latn-pinyin+f2"]
RATE = 16000
CACHE = Path(tempfile.gettempdir()) / "realtime-voice-speech-cache"

_PAUSE = re.compile(r"[，。？！、；：,.?!;:]+")


def to_pinyin(text: str) -> str:
    """Tone-numbered pinyin (neutral tone 5), syllables separated by spaces, punctuation as ", " pauses:
    "今天天气很好。" → "jin1 tian1 tian1 qi4 hen3 hao3". Trailing pauses are dropped."""
    pieces = []
    for part in _PAUSE.split(text):
        syllables = [s.strip() for s in lazy_pinyin(part, style=Style.TONE3, neutral_tone_with_five=True) if s.strip()]
        if syllables:
            pieces.append(" ".join(syllables))
    return ", ".join(pieces)


def mandarin_clip(text: str, voice: str = "cmn-latn-pinyin", directory: Path | str | None = None, speed: int = 140) -> Path:
    """`text` spoken by espeak-ng `voice` at `speed` words per minute, as a 16 kHz mono 16-bit WAV; cached."""
    folder = Path(directory) if directory is not None else CACHE
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{voice}\n{speed}\n{text}".encode()).hexdigest()[:16]
    out = folder / f"cmn-{key}.wav"
    if out.exists() and out.stat().st_size > 44:
        return out
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        raw, converted = Path(scratch) / "raw.wav", Path(scratch) / "out.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), to_pinyin(text)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(converted)],
                       check=True, stderr=subprocess.PIPE)
        os.replace(converted, out)  # atomic: a concurrent run sees the whole file or none
    return out


def corpus(directory: Path | str | None = None, voices: list[str] | None = None) -> list[tuple[Path, str]]:
    """Every sentence in every voice (all × both, voice by voice): [(wav, reference)]."""
    return [(mandarin_clip(text, voice, directory), text) for voice in (voices or VOICES) for text in SENTENCES]


# --- Character error rate -------------------------------------------------------------------------------------

# Arabic digits in a hypothesis read as single hanzi digits (一三八 for 138). Whisper base on this corpus answers
# in characters almost always; when it writes digits they are mostly phone numbers or prices read digit by digit,
# and this mapping scores those right. A digit string meant as a quantity (26 for 二十六) still counts as errors:
# a full number reader is not worth it for a relative measurement.
_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")


def normalize_chinese(text: str, digits_to_hanzi: bool = False) -> str:
    """NFKC (full-width digits and letters → half-width, ideographic space → space), lower case, then only
    letters, digits and hanzi kept: punctuation and whitespace dropped. With `digits_to_hanzi`, 0-9 → 零-九."""
    text = unicodedata.normalize("NFKC", text).lower()
    kept = "".join(c for c in text if c.isalnum())  # hanzi are alphanumeric (category Lo); punctuation is not
    return kept.translate(_DIGITS) if digits_to_hanzi else kept


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: (substitutions + deletions + insertions) / characters of the normalised reference.
    Arabic digits in the hypothesis are read as hanzi digits (see _DIGITS); references use characters."""
    ref = normalize_chinese(reference)
    hyp = normalize_chinese(hypothesis, digits_to_hanzi=True)
    return edit_distance(ref, hyp) / len(ref) if ref else float(bool(hyp))


def edit_distance(a, b) -> int:
    """Levenshtein distance between two sequences, one row at a time."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]
