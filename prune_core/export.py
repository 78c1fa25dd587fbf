"""Write a pruned model so that plain `transformers` reloads it, zeros included."""
from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from .errors import PruneScopeError


def export_model(model: nn.Module, tokenizer, out_dir: str | Path, record: dict) -> Path:
    """safetensors weights + config + tokenizer + prunescope.json (how it was made)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise PruneScopeError(f"export folder '{out}' is not empty; choose a new or empty folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))
        (out / "prunescope.json").write_text(json.dumps(record, indent=2, default=str))
    except OSError as exc:
        raise PruneScopeError(f"could not write to '{out}': {exc.strerror or exc}") from None
    return out
