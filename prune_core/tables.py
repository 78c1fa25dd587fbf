"""Results as tidy DataFrames: the one shape that charts, pages, CLI exports and tests share."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .run import PruneResult
from .sizes import REPRESENTATIONS
from .targets import Target

SIZE_LABELS = {
    "dense_fp32": "dense fp32",
    "csr": "CSR (int32 idx)",
    "bitmask": "bitmask + values",
    "nm_2_4": "2:4 compressed",
    "file_zstd": "file, zstd-1",
}


def layers_frame(result) -> pd.DataFrame:
    """One row per pruned layer, in model order (of a PruneResult or a masksummary.MaskSummary)."""
    df = pd.DataFrame([l.to_dict() for l in result.layers])
    df["layer"] = df["module"].str.replace(r"^(model|transformer|bert)\.", "", regex=True)
    return df


def sizes_frame(result) -> pd.DataFrame:
    """Bytes per representation for dense and pruned (representations that apply and were measured)."""
    rows = []
    for key, label in SIZE_LABELS.items():
        for model, report in (("dense", result.size_dense), ("pruned", result.size_pruned)):
            value = getattr(report, key)
            if value is not None:
                rows.append({"representation": label, "key": key, "model": model, "bytes": value,
                             "MB": value / 1e6, "meaning": REPRESENTATIONS[key]})
    return pd.DataFrame(rows)


def quality_frame(result: PruneResult) -> pd.DataFrame:
    """Dense and pruned held-out quality with their 95 % intervals (where measured)."""
    rows = [{"model": "dense", "value": result.quality_dense, "lo": result.quality_dense_lo,
             "hi": result.quality_dense_hi},
            {"model": "pruned", "value": result.quality, "lo": result.quality_lo, "hi": result.quality_hi}]
    df = pd.DataFrame(rows)
    df["lo"], df["hi"] = df["lo"].fillna(df["value"]), df["hi"].fillna(df["value"])
    df["how"] = result.quality_interval
    return df


def latency_frame(result: PruneResult) -> pd.DataFrame:
    rows = []
    for model, s in (("dense", result.latency_dense), ("pruned", result.latency_pruned)):
        rows.append({"model": model, "median_ms": s.median_ms, "q1_ms": s.q1_ms, "q3_ms": s.q3_ms,
                     "min_ms": s.min_ms, "setup": s.setup})
    return pd.DataFrame(rows)


@torch.no_grad()
def histogram_frame(dense: torch.Tensor, pruned: torch.Tensor, bins: int = 80) -> pd.DataFrame:
    """Counts of weight values before pruning and of the weights kept after it, same bins.

    Removed weights (exact zeros after pruning, which were nonzero before) are left out of
    'after' so the spike at zero does not flatten the chart; the page states their count.
    """
    before = dense.detach().float().reshape(-1).numpy()
    kept_mask = (pruned.detach().reshape(-1) != 0).numpy()
    after = pruned.detach().float().reshape(-1).numpy()[kept_mask]
    lo, hi = float(before.min()), float(before.max())
    if after.size:
        lo, hi = min(lo, float(after.min())), max(hi, float(after.max()))
    edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, bins + 1)
    c_before, _ = np.histogram(before, edges)
    c_after, _ = np.histogram(after, edges)
    return pd.DataFrame({"left": edges[:-1], "right": edges[1:], "center": (edges[:-1] + edges[1:]) / 2,
                         "before": c_before, "after": c_after})


def weight_of(model: torch.nn.Module, target: Target) -> torch.Tensor:
    return dict(model.named_parameters())[target.name]
