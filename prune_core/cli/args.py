"""The command line's parser and the small checks every command shares.

Bad input exits with status 2 and one line on stderr: `Parser.error` raises PruneScopeError, which
`main` prints as that line.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import ALLOCATIONS, MAX_CALIB_SAMPLES, OWL_HELP
from ..errors import PruneScopeError
from ..targets import SCOPES
from .params import add_param_flags


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage over many lines; we print one
        raise PruneScopeError(f"{self.prog}: {message} (see --help)")


def add_owl_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--owl-m", type=float, help=f"OWL (--allocation owl): {OWL_HELP['owl_m']}".replace("%", "%%"))
    p.add_argument("--owl-lambda", type=float, help=f"OWL: {OWL_HELP['owl_lambda']}".replace("%", "%%"))


def add_where_flags(p: argparse.ArgumentParser, allocation: str | None = None, scope: str | None = None) -> None:
    """--allocation and --scope (how the sparsity is spread, which layers): every pruning command has them."""
    p.add_argument("--allocation", default=allocation, choices=list(ALLOCATIONS))
    p.add_argument("--scope", default=scope, choices=list(SCOPES))


def add_pruning_options(p: argparse.ArgumentParser, *, recipe: str, method: str, sparsity: str, pattern: str) -> None:
    """The settings `prune` and `finetune` share, in the order --help lists them: a recipe, or the model and
    how to prune it (flags given with a recipe override it). The help texts say what differs."""
    p.add_argument("--recipe", metavar="FILE", help=recipe)
    p.add_argument("--model", help="embedded name, local model folder, or hub id")
    p.add_argument("--method", help=method)
    p.add_argument("--sparsity", type=float, help=sparsity)
    p.add_argument("--pattern", help=pattern)
    add_where_flags(p)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m prune_core", description="PruneScope: prune Transformers, measure honestly.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("models", help="list the embedded model zoo")
    sub.add_parser("methods", help="list pruning methods, patterns, allocations and scopes")
    _add_prune_parser(sub)
    _add_sweep_parser(sub)
    _add_history_parser(sub)
    _add_paper_parser(sub)
    _add_finetune_parser(sub)
    return parser


def _add_prune_parser(sub) -> None:
    p = sub.add_parser("prune", help="prune one model, measure dense and pruned, print the result")
    add_pruning_options(p, recipe="rebuild a model from its recipe JSON (the Explore page's download); flags given "
                                  "as well override it",
                        method="importance score (default magnitude)", sparsity="fraction in [0, 1), e.g. 0.5",
                        pattern="unstructured (default), 2:4, 4:8 (any N:M), neuron, head")
    p.add_argument("--include-head", action="store_true", default=None, help="also prune the LM/classifier head")
    p.add_argument("--seed", type=int)
    p.add_argument("--calib-samples", type=int, help=f"calibration sequences (wanda, sparsegpt; default 32, "
                                                     f"at most {MAX_CALIB_SAMPLES})")
    p.add_argument("--calib-seq-len", type=int, help="tokens per calibration sequence (default 128)")
    add_param_flags(p)  # each method's own parameters (--damping of sparsegpt, ...)
    add_owl_flags(p)
    p.add_argument("--batch", type=int, default=1, help="latency batch size")
    p.add_argument("--seq-len", type=int, help="latency sequence length (tokens; default 128 LMs, 64 classifiers)")
    p.add_argument("--reps", type=int, help="timed repetitions per model (default 10; 5 above 50 M params)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for timing")
    p.add_argument("--no-file-size", action="store_true", help="skip the compressed-file measurement")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--export", metavar="DIR", help="write the pruned model (safetensors) here")


def _add_sweep_parser(sub) -> None:
    w = sub.add_parser("sweep", help="run a grid of methods x sparsities, store every run, print a table")
    w.add_argument("--model", required=True)
    w.add_argument("--methods", default="magnitude", help="comma list, e.g. random,magnitude,wanda")
    w.add_argument("--sparsity", required=True, help="start:stop:step (0:0.9:0.1) or a comma list")
    w.add_argument("--pattern", default="unstructured")
    add_where_flags(w, allocation="layer", scope="all")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--calib-samples", type=int, default=32, help=f"at most {MAX_CALIB_SAMPLES}")
    add_param_flags(w)
    add_owl_flags(w)
    w.add_argument("--out", metavar="CSV", help="also write the table here")
    w.add_argument("--store", metavar="FILE", help="results database (default: $PRUNESCOPE_DATA/results.sqlite)")
    w.add_argument("--json", action="store_true", help="print the rows as JSON lines")
    w.add_argument("--executor", default="local",
                   help="where runs execute: local (default, needs nothing) or ray (pip install ray)")
    w.add_argument("--ray-address", metavar="HOST:PORT", help="existing Ray cluster (default: $RAY_ADDRESS, "
                   "else a small local Ray)")
    w.add_argument("--fallback-local", action="store_true", help="if Ray is missing or unreachable, run locally")


def _add_history_parser(sub) -> None:
    h = sub.add_parser("history", help="list stored runs, newest first")
    h.add_argument("--model")
    h.add_argument("--method")
    h.add_argument("--limit", type=int, default=20)
    h.add_argument("--store", metavar="FILE")


def _add_paper_parser(sub) -> None:
    pp = sub.add_parser("paper", help="run the study's claims as experiments and print a verdict for each")
    pp.add_argument("--model", help="embedded name or model folder (default: tiny-sentiment-bert)")
    pp.add_argument("--claims", help="which claims to run: any of a, b, c (default abc)")
    pp.add_argument("--methods", help="comma list for claims a and b (default random,magnitude,wanda,sparsegpt)")
    pp.add_argument("--sparsity", help="grid for claims a and b: start:stop:step or a comma list")
    pp.add_argument("--tolerance", type=float, help="claim b: accuracy drop (0.01 = 1 point) or perplexity rise "
                                                    "(0.05 = 5 %%)")
    pp.add_argument("--seeds", type=int, help="claim c: number of seeds (default 3)")
    pp.add_argument("--steps", type=int, help="claim c: fine-tuning steps (default 100)")
    pp.add_argument("--replay", metavar="CARD", help="rerun a reproducibility card (JSON) with its own settings and "
                                                     "claims, and compare verdicts (takes no setting flags)")
    pp.add_argument("--card-out", metavar="FILE", help="write the reproducibility card (JSON) here")
    pp.add_argument("--json", action="store_true", help="print one JSON object")


def _add_finetune_parser(sub) -> None:
    f = sub.add_parser("finetune", help="prune, then fine-tune keeping the pattern (gradual/movement: prune "
                                        "while training); or replay a recipe")
    add_pruning_options(f, recipe="replay a recipe JSON (from --export or the Paper page); flags given as well "
                                  "override it",
                        method="any method; gradual and movement prune during training (default magnitude)",
                        sparsity="fraction in [0, 1); 0 fine-tunes the dense model (a control)",
                        pattern="unstructured (default), 2:4, 4:8 (any N:M)")
    f.add_argument("--seed", type=int, help="pruning and batch-order seed (default 0)")
    add_param_flags(f)
    add_owl_flags(f)
    f.add_argument("--steps", type=int, help="optimizer steps (default 100)")
    f.add_argument("--lr", type=float, help="peak learning rate (default 5e-4)")
    f.add_argument("--batch-size", type=int, help="sequences per step (default 16)")
    f.add_argument("--seq-len", type=int, help="LM training window in tokens (default 64)")
    f.add_argument("--eval-every", type=int, help="steps between validation losses (default 10)")
    f.add_argument("--device", help="auto (GPU when present), cpu, cuda")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.add_argument("--export", metavar="DIR", help="write the fine-tuned model (safetensors) and recipe.json here")


def given(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    """The flags among `names` that the user gave (argparse leaves the others None)."""
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def check_output_file(path: str | None, flag: str) -> None:
    """An output file's folder must exist: found out before the work, not after it."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir() or not target.parent.is_dir():
        raise PruneScopeError(f"{flag} {path}: " + ("is a folder; give a file name" if target.is_dir() else
                                                    f"the folder {target.parent} does not exist"))


def say(message: str) -> None:
    """A line on stderr, at once (progress and waiting notes; stdout is for results)."""
    print(message, file=sys.stderr, flush=True)
