"""Sizes of a model, one figure per storage format, each labelled with the representation it is for.

A zeroed weight still costs 4 bytes in a dense fp32 matrix, so a pruned model gets several size
figures: dense fp32, CSR, bitmask, 2:4 compressed, and the compressed file on disk.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

import torch
import zstandard
from torch import nn

from .targets import Target, as_out_in

FP32 = 4
INDEX = 4  # int32 column indices / row pointers, the cheapest CSR that fits these sizes

REPRESENTATIONS = {
    "dense_fp32": "dense fp32: every weight stored, zeros included (what the model uses in memory)",
    "csr": "CSR for pruned layers: fp32 values + int32 column index per nonzero + int32 row pointers",
    "bitmask": "bitmask for pruned layers: 1 bit per weight + fp32 values of the nonzeros",
    "nm_2_4": "2:4 compressed for pruned layers: half the values + 2-bit index each (only if 2:4 holds)",
    "file_zstd": "safetensors file, each tensor compressed with zstd level 1 (size on disk)",
}


@dataclass
class SizeReport:
    """Bytes of one model in each representation (None where it does not apply)."""

    params_total: int
    params_nonzero: int
    dense_fp32: int
    csr: int
    bitmask: int
    nm_2_4: int | None
    file_zstd: int | None

    def to_dict(self) -> dict:
        return asdict(self)


def _holds_2_4(weight: torch.Tensor, target: Target) -> bool:
    view = as_out_in(weight, target)
    if view.shape[1] % 4:
        return False
    return bool(((view.reshape(view.shape[0], -1, 4) != 0).sum(-1) <= 2).all())


def sparse_layer_bytes(out_features: int, numel: int, nnz: int) -> tuple[int, int, int]:
    """(CSR, bitmask, 2:4 compressed) bytes of one pruned matrix, as REPRESENTATIONS describes them.

    One place for the formulas: `size_report` feeds it counts from a pruned copy, the cheap
    phase of a slider move (`summary`) counts from the masks alone.
    """
    csr = nnz * (FP32 + INDEX) + (out_features + 1) * INDEX
    bitmask = (numel + 7) // 8 + nnz * FP32
    nm_2_4 = (numel // 2) * FP32 + (numel // 2 * 2 + 7) // 8
    return csr, bitmask, nm_2_4


_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    """One compressor per thread: python-zstandard objects are not thread-safe, and sharing one
    between Streamlit sessions (each a thread) crashed the server with a segmentation fault."""
    if not hasattr(_local, "zstd"):
        _local.zstd = zstandard.ZstdCompressor(level=1, threads=-1)
    return _local.zstd


def compressed_bytes(tensor: torch.Tensor) -> int:
    """zstd-1 size of one tensor's raw bytes, as stored in a safetensors file."""
    raw = tensor.detach().contiguous().view(-1).view(torch.uint8).numpy()
    return len(_compressor().compress(raw.tobytes()))


@torch.no_grad()
def size_report(model: nn.Module, targets: list[Target], file_sizes: dict[str, int] | None = None,
                measure_file: bool = True) -> SizeReport:
    """Size of `model` (dense or pruned copy). Sparse formats apply to the target layers only.

    `file_sizes` caches per-tensor compressed sizes of tensors that pruning does not change,
    so that only the pruned layers are recompressed on each run.
    """
    params = dict(model.named_parameters())
    target_names = {t.name for t in targets}
    total = sum(p.numel() for p in params.values())
    nonzero = sum(int((p != 0).sum()) for p in params.values())
    other = sum(p.numel() for n, p in params.items() if n not in target_names) * FP32
    csr = bitmask = nm = other
    nm_ok = True
    for t in targets:
        w = params[t.name]
        layer_csr, layer_bitmask, layer_nm = sparse_layer_bytes(t.out_features, t.numel, int((w != 0).sum()))
        csr += layer_csr
        bitmask += layer_bitmask
        if nm_ok and _holds_2_4(w, t):
            nm += layer_nm
        else:
            nm_ok = False
    file_zstd = file_bytes(model, targets, file_sizes) if measure_file else None
    return SizeReport(total, nonzero, total * FP32, csr, bitmask, nm if nm_ok else None, file_zstd)


@torch.no_grad()
def file_bytes(model: nn.Module, targets: list[Target], file_sizes: dict[str, int] | None = None) -> int:
    """zstd-1 size of every tensor of `model`; tensors outside `targets` are cached in `file_sizes`."""
    target_names = {t.name for t in targets}
    total = 0
    for name, p in model.named_parameters():
        if name not in target_names and file_sizes is not None:
            if name not in file_sizes:
                file_sizes[name] = compressed_bytes(p)
            total += file_sizes[name]
        else:
            total += compressed_bytes(p)
    return total
