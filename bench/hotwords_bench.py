#!/usr/bin/env python3
"""Hotwords (issue 17): recall of rare names and terms with and without the session's hotwords, per engine.

24 sentences, 12 English (flite, voices rms and slt alternating) and 12 Mandarin (espeak-ng pinyin voice,
tests/python/mandarin_speech.py), each with one name or term a generic model rarely writes right. Every clip is
uploaded to one gateway (`/api/realtime-voice/recognize`) twice on each engine, without and with `hotwords=<term>`,
the two alternating clip by clip so that drift of the machine's speed falls on both alike:
- engine whisper (the default: the managed sidecar on Whisper base), English with lang=en, Mandarin with lang=zh;
- engine pocketsphinx, English only (US English model), the term's pronunciation derived or given as PocketSphinx
  needs (`term|10|PHONES` where neither the dictionary nor its words spell it).
Tencent's hotwords go to Tencent as `hotword_list`; its effect cannot be measured here (no Tencent account, the
stand-in does not recognise speech).

Scores, per engine and language: term recall (the hypothesis contains the term: letters and digits compared
without case, spaces and punctuation) and the rest's error rate: WER (English) or CER (Mandarin) of the sentence
with the term's reference tokens and whatever the alignment put against them left out, pooled over the sentences.

    .venv/bin/python bench/hotwords_bench.py --out bench/out/hotwords-2026-12-07.json
"""
import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mandarin_bench as bench  # noqa: E402  (it puts tests/python on the path)
import mandarin_speech  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# (sentence, term, PocketSphinx hotword entry when the term needs a pronunciation)
ENGLISH = [
    ("Please open the Grafana dashboard before the meeting.", "Grafana", "Grafana|10|G R AH F AA N AH"),
    ("We deploy the gateway on Kubernetes every Friday.", "Kubernetes", "Kubernetes|10|K UW B ER N EH T IY Z"),
    ("Our mini program sends the audio to Tencent for recognition.", "Tencent", "Tencent|10|T EH N S EH N T"),
    ("The invoice from Xiaomi arrived this morning.", "Xiaomi", "Xiaomi|10|SH AW M IY"),
    ("Ask Priyanka to review the pull request today.", "Priyanka", "Priyanka|10|P R IY Y AA NG K AH"),
    ("The new phone charges from a powerbank in the car.", "powerbank", None),
    ("Send the error logs to Datadog before lunch.", "Datadog", None),
    ("We met Nakamura at the airport yesterday.", "Nakamura", "Nakamura|10|N AA K AH M UH R AH"),
    ("The train to Shenzhen leaves at nine in the morning.", "Shenzhen", "Shenzhen|10|SH EH N JH EH N"),
    ("Please book a hotel room in Chengdu for next week.", "Chengdu", "Chengdu|10|CH EH NG D UW"),
    ("She posted the photos on Weibo last night.", "Weibo", "Weibo|10|W EY B OW"),
    ("Our database runs on Postgres in the cloud.", "Postgres", "Postgres|10|P OW S T G R EH S"),
]

MANDARIN = [
    ("请把会议纪要发给王思聪。", "王思聪"),
    ("这个功能用了腾讯云的语音识别。", "腾讯云"),
    ("她在小红书上分享了旅行的照片。", "小红书"),
    ("我们下午用钉钉开一个短会。", "钉钉"),
    ("下个月我们去婺源看油菜花。", "婺源"),
    ("明天的发布会由张一鸣主持。", "张一鸣"),
    ("我们的新产品叫灵犀助手。", "灵犀"),
    ("这家咖啡店就在鼓浪屿上。", "鼓浪屿"),
    ("请联系李彦宏的助理安排时间。", "李彦宏"),
    ("他在拼多多上买了一台手机。", "拼多多"),
    ("我们团队用飞书写文档。", "飞书"),
    ("周末我们去景德镇买瓷器。", "景德镇"),
]


def letters(text: str) -> str:
    """Letters and digits only, lower case (Mandarin: the characters, Traditional not converted)."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).lower() if c.isalnum())


def tokens(text: str, mandarin: bool) -> list[str]:
    if mandarin:
        return list(letters(text))
    return [w for w in (letters(w) for w in text.split()) if w]


def alignment(ref: list[str], hyp: list[str]) -> list[tuple[int | None, int | None]]:
    """A Levenshtein alignment: (ref index or None, hyp index or None) pairs in order."""
    n, m = len(ref), len(hyp)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]))
    pairs, i, j = [], n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i][j] == d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            pairs.append((i - 1, j - 1)); i, j = i - 1, j - 1
        elif i > 0 and d[i][j] == d[i - 1][j] + 1:
            pairs.append((i - 1, None)); i -= 1
        else:
            pairs.append((None, j - 1)); j -= 1
    return pairs[::-1]


def rest_errors(reference: str, term: str, hypothesis: str, mandarin: bool) -> tuple[int, int]:
    """(errors, reference tokens) outside the term: substitutions, deletions and insertions of the alignment,
    leaving out the term's tokens and insertions next to them."""
    ref, hyp = tokens(reference, mandarin), tokens(hypothesis, mandarin)
    term_tokens = tokens(term, mandarin)
    start = next(i for i in range(len(ref)) if ref[i:i + len(term_tokens)] == term_tokens)
    span = set(range(start, start + len(term_tokens)))
    errors, previous = 0, None
    pairs = alignment(ref, hyp)
    for k, (r, h) in enumerate(pairs):
        if r is not None:
            previous = r
            if r not in span and (h is None or ref[r] != hyp[h]):
                errors += 1
        else:  # an insertion: the term's when the reference token before or after it is
            following = next((pairs[q][0] for q in range(k + 1, len(pairs)) if pairs[q][0] is not None), None)
            if previous not in span and following not in span:
                errors += 1
    return errors, len(ref) - len(span)


def english_clip(text: str, voice: str, directory: Path) -> Path:
    out = directory / f"en-{voice}-{hashlib.sha1(text.encode()).hexdigest()[:12]}.wav"
    if not out.exists():
        raw = directory / "raw.wav"
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(raw)], check=True)
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out)], check=True)
    return out


def run_engine(port: int, engine: str, items: list[dict]) -> list[dict]:
    rows = []
    for index, item in enumerate(items):
        wav = item["path"].read_bytes()
        hotword = item["entries"].get(engine, item["term"])
        # Alternate which condition goes first, so that drift falls on both alike.
        order = ["without", "with"] if index % 2 == 0 else ["with", "without"]
        answers = {}
        for condition in order:
            extra = {"hotwords": hotword} if condition == "with" else {}
            answers[condition] = bench.recognize(port, wav, item["lang"], engine, **extra)[1]
        for condition in ("without", "with"):
            text = answers[condition]["text"]
            errors, count = rest_errors(item["reference"], item["term"], text, item["mandarin"])
            rows.append({"engine": engine, "language": "zh" if item["mandarin"] else "en", "condition": condition,
                         "reference": item["reference"], "term": item["term"], "hotwords": hotword if condition == "with" else "",
                         "text": text, "recalled": letters(item["term"]) in letters(text), "rest_errors": errors,
                         "rest_tokens": count, "ignored": answers[condition].get("hotwords_ignored")})
        print(f"  {engine} {item['lang']} {item['term']}: without {answers['without']['text']!r} | with {answers['with']['text']!r}",
              flush=True)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    out = []
    for engine in ("whisper", "pocketsphinx"):
        for language in ("en", "zh"):
            group = [r for r in rows if r["engine"] == engine and r["language"] == language]
            if not group:
                continue
            line = {"engine": engine, "language": language, "sentences": len(group) // 2}
            for condition in ("without", "with"):
                part = [r for r in group if r["condition"] == condition]
                line[f"recall_{condition}"] = sum(r["recalled"] for r in part) / len(part)
                line[f"rest_{condition}"] = sum(r["rest_errors"] for r in part) / max(1, sum(r["rest_tokens"] for r in part))
            out.append(line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=ROOT / ".build" / "release" / "realtime-voice")
    parser.add_argument("--model", default="base")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="hotwords-bench-"))
    items = []
    for index, (text, term, entry) in enumerate(ENGLISH):
        path = english_clip(text, "rms" if index % 2 == 0 else "slt", scratch)
        items.append({"path": path, "reference": text, "term": term, "lang": "en", "mandarin": False,
                      "entries": {"pocketsphinx": entry} if entry else {}})
    voices = ["cmn-latn-pinyin", "cmn-latn-pinyin+f2"]
    for index, (text, term) in enumerate(MANDARIN):
        path = mandarin_speech.mandarin_clip(text, voice=voices[index % 2], directory=scratch)
        items.append({"path": path, "reference": text, "term": term, "lang": "zh", "mandarin": True, "entries": {}})

    log = scratch / "gateway.log"
    print(f"machine: {bench.machine_facts()}", flush=True)
    with bench.whisper_gateway(args.binary, log, args.model, threads=2, max_concurrent=1) as server:
        rows = run_engine(server.port, "whisper", items)
        rows += run_engine(server.port, "pocketsphinx", [i for i in items if not i["mandarin"]])
    lines = summary(rows)
    print("\n| engine | language | sentences | term recall without | with | rest WER/CER without | with |")
    print("|---|---|---|---|---|---|---|")
    for line in lines:
        print(f"| {line['engine']} | {line['language']} | {line['sentences']} | {line['recall_without']:.2f} | "
              f"{line['recall_with']:.2f} | {line['rest_without']:.3f} | {line['rest_with']:.3f} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": bench.machine_facts(), "summary": lines, "rows": rows},
                                       ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
