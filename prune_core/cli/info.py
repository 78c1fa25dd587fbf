"""`models` and `methods`: what there is to prune, and with what."""
from __future__ import annotations

import argparse

from ..config import ALLOCATIONS
from ..methods import available, specs
from ..patterns import PATTERNS
from ..targets import SCOPES
from ..zoo import embedded_cards


def cmd_models(args: argparse.Namespace) -> None:
    for c in embedded_cards():
        q = f"{c['quality_metric']} {c['quality_dense']:.3f}" if c.get("quality_dense") is not None else ""
        print(f"{c['name']:<22} {c['task']:<25} {c['params'] / 1e6:7.2f} M params  {q}")
        print(f"{'':<22} source: {c['source']}; licence: {c['licence']}")


def cmd_methods(args: argparse.Namespace) -> None:
    groups = (("importance score", "for unstructured and N:M patterns", ("unstructured",), False),
              ("unit importance", "for the structural patterns neuron and head", ("neuron", "head"), True))
    for kind, where, patterns, show_units in groups:
        print(f"methods ({kind}) {where}:")
        methods = {name: m for p in patterns for name, m in available(p).items()}
        for name, m in methods.items():
            calib = " [needs calibration data]" if m.info.needs_calibration else ""
            calib += " [trains while pruning]" if m.info.prunes_during_training else ""
            units = f"[{', '.join(m.info.granularities)}] " if show_units else ""
            print(f"  {name:<12} {units}{m.info.description}{calib}")
            for spec in specs(m.params):  # the method's own settings, each an option of prune and sweep
                print(f"  {'':<12}   --{spec.name.replace('_', '-')} {spec.label} (default {spec.default:g}, "
                      f"{spec.range_text})")
    for title, table in (("patterns", PATTERNS), ("allocations", ALLOCATIONS), ("scopes", SCOPES)):
        print(f"{title}:")
        for name, text in table.items():
            print(f"  {name:<12} {text}")
