"""`models` and `methods`: what there is to prune, and with what."""
from __future__ import annotations

import argparse

from ..config import ALLOCATIONS
from ..methods import METHODS
from ..patterns import PATTERNS
from ..structural import IMPORTANCE
from ..targets import SCOPES
from ..zoo import embedded_cards


def cmd_models(args: argparse.Namespace) -> None:
    for c in embedded_cards():
        q = f"{c['quality_metric']} {c['quality_dense']:.3f}" if c.get("quality_dense") is not None else ""
        print(f"{c['name']:<22} {c['task']:<25} {c['params'] / 1e6:7.2f} M params  {q}")
        print(f"{'':<22} source: {c['source']}; licence: {c['licence']}")


def cmd_methods(args: argparse.Namespace) -> None:
    print("methods (importance score) for unstructured and N:M patterns:")
    for name, m in METHODS.items():
        calib = " [needs calibration data]" if m.info.needs_calibration else ""
        calib += " [trains while pruning]" if m.info.prunes_during_training else ""
        print(f"  {name:<12} {m.info.description}{calib}")
    print("methods (unit importance) for the structural patterns neuron and head:")
    for name, imp in IMPORTANCE.items():
        calib = " [needs calibration data]" if imp.needs_calibration else ""
        print(f"  {name:<12} [{', '.join(imp.units)}] {imp.description}{calib}")
    for title, table in (("patterns", PATTERNS), ("allocations", ALLOCATIONS), ("scopes", SCOPES)):
        print(f"{title}:")
        for name, text in table.items():
            print(f"  {name:<12} {text}")
