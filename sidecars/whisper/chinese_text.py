"""Mandarin output clean-up: Traditional → Simplified (OpenCC t2s) and Chinese punctuation and spacing.

Whisper base often answers Mandarin in Traditional characters, with ASCII punctuation and stray spaces between
characters. `to_simplified_chinese()` fixes all three. Every function is pure and idempotent."""
import re
from functools import lru_cache

from opencc import OpenCC  # PyPI opencc-python-reimplemented (pure Python)

# Han ideographs (CJK Unified Ideographs, extension A, compatibility ideographs, extensions B-F) and the CJK
# symbols, full-width forms and ideographic punctuation around them.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_CJK_PUNCT = "\u3000-\u303f\uff00-\uffef"
_CJK = _HAN + _CJK_PUNCT
HAN = re.compile(f"[{_HAN}]")

FULL_WIDTH = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；"}
# ASCII punctuation with a CJK character before it (spaces in between allowed), or after it.
_AFTER_CJK = re.compile(f"(?<=[{_CJK}])[ \t]*([,?!:;])")
_BEFORE_CJK = re.compile(f"(?<![0-9A-Za-z])([,?!:;])[ \t]*(?=[{_HAN}])")
# A full stop (or an ellipsis) right after a CJK character, not inside a number or a name such as "3.5" or "a.b".
_STOP = re.compile(f"(?<=[{_CJK}])[ \t]*(\\.{{2,}}|\\.)(?![0-9A-Za-z])")
# Spaces between two CJK characters (or a CJK character and CJK punctuation).
_SPACES = re.compile(f"(?<=[{_CJK}])[ \t\u3000]+(?=[{_CJK}])")


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def has_han(text: str) -> bool:
    return HAN.search(text) is not None


def t2s(text: str) -> str:
    """Traditional → Simplified Chinese (OpenCC's t2s: phrases first, then characters). Other scripts pass through."""
    return _t2s().convert(text) if has_han(text) else text


def chinese_punctuation(text: str) -> str:
    """ASCII , ? ! : ; next to a CJK character → ， ？ ！ ： ；, a full stop after one → 。 (an ellipsis → ……),
    and no spaces between two CJK characters. Punctuation between Latin letters or digits ("3.5", "1,000", "OK, so")
    is left alone."""
    text = _AFTER_CJK.sub(lambda m: FULL_WIDTH[m.group(1)], text)
    text = _BEFORE_CJK.sub(lambda m: FULL_WIDTH[m.group(1)], text)
    text = _STOP.sub(lambda m: "……" if len(m.group(1)) > 1 else "。", text)
    return _SPACES.sub("", text)


def to_simplified_chinese(text: str) -> str:
    """What the sidecar does to every text (whole text, segments, words) of a Mandarin transcription."""
    if not has_han(text):
        return text
    return chinese_punctuation(t2s(text))
