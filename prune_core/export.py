"""Write a pruned model so that plain `transformers` reloads it, zeros included."""
from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from torch import nn

from .errors import PruneScopeError


def check_export_dir(out_dir: str | Path) -> Path:
    """A new or empty folder: an export never mixes with (or overwrites) files already there."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PruneScopeError(f"export folder '{out}' is not empty; choose a new or empty folder")
    return out


def export_model(model: nn.Module, tokenizer, out_dir: str | Path, record: dict) -> Path:
    """safetensors weights + config + tokenizer + prunescope.json (how it was made)."""
    out = check_export_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))
        (out / "prunescope.json").write_text(json.dumps(record, indent=2, default=str))
    except OSError as exc:
        raise PruneScopeError(f"could not write to '{out}': {exc.strerror or exc}") from None
    return out


def zip_export(write: Callable[[Path], Path]) -> bytes:
    """An export as zip bytes, for a download button: `write(folder)` writes it into a temporary folder
    (the folder's name is the zip's top-level folder); nothing stays on disk."""
    with tempfile.TemporaryDirectory() as tmp:
        out = write(Path(tmp) / "model")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(out.rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(out.parent))
        return buf.getvalue()
