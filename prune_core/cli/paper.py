"""`paper`: the study's claims run as experiments, a verdict each, and a reproducibility card to replay."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from .. import paper
from ..errors import PruneScopeError
from ..sweep import parse_grid
from ..zoo import load_model
from .args import check_output_file

_PAPER_FLAGS = ("model", "methods", "sparsity", "tolerance", "seeds", "steps", "claims")


def _paper_settings(args: argparse.Namespace):
    """(settings, claims, the replayed card or None); a card carries its own settings, so --replay takes none."""
    if args.replay:
        given = [f"--{f}" for f in _PAPER_FLAGS if getattr(args, f) is not None]
        if given:
            raise PruneScopeError(f"--replay reruns the card's own settings; {', '.join(given)} cannot be combined "
                                  "with it (edit a copy of the card, or run without --replay)")
        try:
            with open(args.replay, encoding="utf-8") as f:
                card = json.load(f)
        except (OSError, ValueError) as exc:
            raise PruneScopeError(f"cannot read the card {args.replay}: {exc}") from None
        settings, claims = paper.read_card(card)
        return settings, claims or "abc", card
    claims = args.claims if args.claims is not None else "abc"
    if not claims or set(claims) - set("abc"):
        raise PruneScopeError(f"--claims takes letters from 'abc', got '{claims}'")
    if args.steps is not None and args.steps < 1:
        raise PruneScopeError("--steps must be at least 1")
    if args.seeds is not None and not 1 <= args.seeds <= paper.MAX_SEEDS:
        raise PruneScopeError(f"--seeds must be from 1 to {paper.MAX_SEEDS}, got {args.seeds}")
    changes = {k: v for k, v in {
        "model": args.model, "tolerance": args.tolerance, "c_steps": args.steps,
        "methods": tuple(m.strip() for m in args.methods.split(",") if m.strip()) if args.methods else None,
        "sparsities": tuple(parse_grid(args.sparsity)) if args.sparsity else None,
        "c_seeds": tuple(range(args.seeds)) if args.seeds else None}.items() if v is not None}
    return replace(paper.PaperSettings(), **changes).validated(), "".join(c for c in "abc" if c in claims), None


def cmd_paper(args: argparse.Namespace) -> None:
    settings, claims, card = _paper_settings(args)
    check_output_file(args.card_out, "--card-out")
    loaded = load_model(settings.model)
    results = paper.run_claims(loaded, settings, claims,
                               lambda f, m: print(f"\r{m:<70}", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    out = paper.reproducibility_card(settings, results)
    if card:
        out["replayed"] = {c: {"before": v["verdict"], "now": out["verdicts"].get(c, {}).get("verdict")}
                           for c, v in card.get("verdicts", {}).items()}
    if args.card_out:
        with open(args.card_out, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2, default=str)
    if args.json:
        print(json.dumps(out | {"results": [r.to_dict() for r in results]}, default=str))
        return
    print(f"{paper.PAPER} -- on {loaded.name}. {paper.DISCLAIMER}")
    for r in results:
        print(f"\n({r.claim}) {paper.CLAIMS[r.claim]}\n  verdict: {r.verdict.upper()}"
              f"{' (partial)' if r.partial else ''}\n  {r.because}\n  rule: {r.rule}")
    for c, v in out.get("replayed", {}).items():
        print(f"replay ({c}): card said {v['before']}, now {v['now']}"
              + ("" if v["before"] == v["now"] else "  <-- differs"))
