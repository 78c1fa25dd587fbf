"""Models uploaded through the page: written safely into a folder of their own, then loaded like any folder.

An upload is hostile until proven otherwise. Only the files a model needs are written (config.json,
tokenizer files, .safetensors weights), never code, pickles or a card.json (whose evaluation settings
could ask for hours of work); no entry may leave the folder or be a link; the bytes actually written
are counted (a zip's declared sizes can lie), so a zip bomb stops at `MAX_EXTRACTED`. The folder is
named by a hash of the content inside a *scope*: one random scope per browser session, so another
session cannot reach the model by name, or one shared scope when the operator sets
`PRUNESCOPE_SHARE_UPLOADS=1`. `zoo.load_model` then runs every check of `checkpoint.check_folder`
before building anything.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .budget import human
from .errors import PruneScopeError

SHARE_ENV = "PRUNESCOPE_SHARE_UPLOADS"
DIR_ENV = "PRUNESCOPE_UPLOAD_DIR"
SHARED_SCOPE = "shared"
MAX_FILES = 64  # entries in one upload (a model folder has about ten)
MAX_EXTRACTED = 1024**3  # bytes written for one upload, whatever the zip claims
MODEL_FILES = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt",
               "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "model.safetensors.index.json"}
_SCOPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CHUNK = 1 << 20
MAX_NAME = 100  # characters of an uploaded file's name kept for the card (names and sources are bounded there)


@dataclass
class Upload:
    """Where an upload was written, and what in it was left out (and why)."""

    path: Path
    name: str
    ignored: list[str] = field(default_factory=list)


def sharing() -> bool:
    return os.environ.get(SHARE_ENV, "").strip().lower() in ("1", "true", "yes")


def upload_root() -> Path:
    return Path(os.environ.get(DIR_ENV) or Path(tempfile.gettempdir()) / "prunescope-uploads")


def _wanted(name: str) -> bool:
    return name in MODEL_FILES or name.endswith(".safetensors")


def _entry_name(raw: str) -> str:
    """A zip entry's path, refused if it could point outside the folder."""
    if "\\" in raw or raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or "\x00" in raw:
        raise PruneScopeError(f"the zip holds an unsafe path '{raw}'; nothing was extracted")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PruneScopeError(f"the zip holds an unsafe path '{raw}' (it climbs out with '..'); nothing was extracted")
    return "/".join(parts)


def _zip_members(data: bytes) -> tuple[zipfile.ZipFile, list[tuple[str, zipfile.ZipInfo]]]:
    """(archive, [(name inside the model folder, entry)]): one optional top folder is stripped."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise PruneScopeError(f"the upload is not a readable zip file ({exc})") from None
    if len(infos) > MAX_FILES:
        raise PruneScopeError(f"the zip holds {len(infos)} entries; at most {MAX_FILES} are accepted")
    files = []
    for info in infos:
        name = _entry_name(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise PruneScopeError(f"the zip holds a link '{info.filename}'; links are refused")
        if info.flag_bits & 0x1:
            raise PruneScopeError(f"'{info.filename}' in the zip is encrypted")
        if not info.is_dir() and name:
            files.append((name, info))
    tops = {n.split("/")[0] for n, _ in files}
    if len(tops) == 1 and all("/" in n for n, _ in files):  # model/config.json, model/... -> config.json
        files = [(n.split("/", 1)[1], i) for n, i in files]
    return archive, files


def _copy_limited(src, dst: Path, written: int) -> int:
    """Copy a stream, counting bytes; stops at MAX_EXTRACTED."""
    with open(dst, "wb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > MAX_EXTRACTED:
                raise PruneScopeError(f"the upload expands to more than {human(MAX_EXTRACTED)}; refused "
                                      "(a zip bomb, or a model too large for this server)")
            out.write(chunk)
    return written


def _write(files: list[tuple[str, object]], folder: Path) -> list[str]:
    """Write the wanted files of [(name, readable stream)] into folder; return the ignored names."""
    ignored, written, seen = [], 0, set()
    for name, stream in files:
        if "/" in name or not _wanted(name):
            ignored.append(name)
            continue
        if name in seen:
            raise PruneScopeError(f"the upload holds '{name}' twice")
        seen.add(name)
        try:
            written = _copy_limited(stream, folder / name, written)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:  # CRC error, truncated entry
            raise PruneScopeError(f"'{name}' in the upload cannot be read ({exc})") from None
    if "config.json" not in seen:
        raise PruneScopeError("the upload has no config.json at its top level (or in one top folder); upload the "
                              "folder that holds config.json, the tokenizer files and the .safetensors weights")
    return ignored


def _shown(name: str) -> str:
    """A file name as a card may show it: printable, at most MAX_NAME characters."""
    return "".join(c if c.isprintable() else "_" for c in name[:MAX_NAME]).strip()


def _source(names: list[str]) -> str:
    """What was uploaded, short enough for a card (localcard's limits): a zip's name or a few file names."""
    shown = ", ".join(_shown(n) for n in names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return f"uploaded as {shown}"


def save_upload(uploads: list[tuple[str, bytes]], scope: str) -> Upload:
    """Write one zip, or a model's files given one by one, into upload_root()/scope/<hash>.

    `uploads` is [(file name as uploaded, bytes)]. The same content in the same scope lands in the
    same folder (so in the same cached model)."""
    if not _SCOPE.match(scope):
        raise PruneScopeError(f"bad upload scope {scope!r}")
    if not uploads:
        raise PruneScopeError("nothing was uploaded")
    names = [Path(n).name for n, _ in uploads]
    is_zip = len(uploads) == 1 and names[0].lower().endswith(".zip")
    if not is_zip and any(n.lower().endswith(".zip") for n in names):
        raise PruneScopeError("upload either one zip file or the model's files, not both")
    digest = hashlib.sha256()
    for name, data in sorted(zip(names, (d for _, d in uploads))):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    display = (_shown(Path(names[0]).stem) if is_zip else "") or "uploaded model"
    final = upload_root() / scope / digest.hexdigest()[:20]
    if (final / "config.json").is_file():
        return Upload(final, display)
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    work = Path(tempfile.mkdtemp(prefix=".part-", dir=final.parent))
    try:
        if is_zip:
            archive, members = _zip_members(uploads[0][1])
            with archive:
                ignored = _write([(n, archive.open(i)) for n, i in members], work)
        else:
            if len(uploads) > MAX_FILES:
                raise PruneScopeError(f"{len(uploads)} files uploaded; at most {MAX_FILES} are accepted")
            ignored = _write([(n, io.BytesIO(d)) for n, d in zip(names, (d for _, d in uploads))], work)
        (work / "card.json").write_text(json.dumps({"name": display, "source": _source(names)}))
        try:
            os.replace(work, final)
        except OSError:  # another session wrote the same content meanwhile: use theirs
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Upload(final, display, ignored)


def shared_uploads() -> dict[str, Path]:
    """Label -> folder of the uploads every session may pick (only when sharing is on)."""
    if not sharing():
        return {}
    root = upload_root() / SHARED_SCOPE
    out = {}
    for folder in sorted(root.glob("[0-9a-f]*")) if root.is_dir() else []:
        try:
            name = json.loads((folder / "card.json").read_text())["name"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            continue
        out[f"{name} ({folder.name[:8]})"] = folder
    return out
