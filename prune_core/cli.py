"""`python -m prune_core ...`: the same runs as the dashboard, headless and scriptable.

Bad input exits with status 2 and one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from .config import ALLOCATIONS, MAX_CALIB_SAMPLES, OWL_HELP, PruneConfig
from .errors import PruneScopeError
from .patterns import PATTERNS
from .targets import SCOPES


def _add_owl_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--owl-m", type=float, help=f"OWL (--allocation owl): {OWL_HELP['owl_m']}".replace("%", "%%"))
    p.add_argument("--owl-lambda", type=float, help=f"OWL: {OWL_HELP['owl_lambda']}".replace("%", "%%"))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage over many lines; we print one
        raise PruneScopeError(f"{self.prog}: {message} (see --help)")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m prune_core", description="PruneScope: prune Transformers, measure honestly.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("models", help="list the embedded model zoo")
    sub.add_parser("methods", help="list pruning methods, patterns, allocations and scopes")
    p = sub.add_parser("prune", help="prune one model, measure dense and pruned, print the result")
    p.add_argument("--recipe", metavar="FILE", help="rebuild a model from its recipe JSON (the Explore page's "
                                                    "download); flags given as well override it")
    p.add_argument("--model", help="embedded name, local model folder, or hub id")
    p.add_argument("--method", help="importance score (default magnitude)")
    p.add_argument("--sparsity", type=float, help="fraction in [0, 1), e.g. 0.5")
    p.add_argument("--pattern", help="unstructured (default), 2:4, 4:8 (any N:M), neuron, head")
    p.add_argument("--allocation", choices=list(ALLOCATIONS))
    p.add_argument("--scope", choices=list(SCOPES))
    p.add_argument("--include-head", action="store_true", default=None, help="also prune the LM/classifier head")
    p.add_argument("--seed", type=int)
    p.add_argument("--calib-samples", type=int, help=f"calibration sequences (wanda, sparsegpt; default 32, "
                                                     f"at most {MAX_CALIB_SAMPLES})")
    p.add_argument("--calib-seq-len", type=int, help="tokens per calibration sequence (default 128)")
    p.add_argument("--damping", type=float, help="SparseGPT Hessian damping (fraction of mean diag; default 0.01)")
    _add_owl_flags(p)
    p.add_argument("--batch", type=int, default=1, help="latency batch size")
    p.add_argument("--seq-len", type=int, help="latency sequence length (tokens; default 128 LMs, 64 classifiers)")
    p.add_argument("--reps", type=int, help="timed repetitions per model (default 10; 5 above 50 M params)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for timing")
    p.add_argument("--no-file-size", action="store_true", help="skip the compressed-file measurement")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--export", metavar="DIR", help="write the pruned model (safetensors) here")
    w = sub.add_parser("sweep", help="run a grid of methods x sparsities, store every run, print a table")
    w.add_argument("--model", required=True)
    w.add_argument("--methods", default="magnitude", help="comma list, e.g. random,magnitude,wanda")
    w.add_argument("--sparsity", required=True, help="start:stop:step (0:0.9:0.1) or a comma list")
    w.add_argument("--pattern", default="unstructured")
    w.add_argument("--allocation", default="layer", choices=list(ALLOCATIONS))
    w.add_argument("--scope", default="all", choices=list(SCOPES))
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--calib-samples", type=int, default=32, help=f"at most {MAX_CALIB_SAMPLES}")
    _add_owl_flags(w)
    w.add_argument("--out", metavar="CSV", help="also write the table here")
    w.add_argument("--store", metavar="FILE", help="results database (default: $PRUNESCOPE_DATA/results.sqlite)")
    w.add_argument("--json", action="store_true", help="print the rows as JSON lines")
    w.add_argument("--executor", default="local",
                   help="where runs execute: local (default, needs nothing) or ray (pip install ray)")
    w.add_argument("--ray-address", metavar="HOST:PORT", help="existing Ray cluster (default: $RAY_ADDRESS, "
                   "else a small local Ray)")
    w.add_argument("--fallback-local", action="store_true", help="if Ray is missing or unreachable, run locally")
    h = sub.add_parser("history", help="list stored runs, newest first")
    h.add_argument("--model")
    h.add_argument("--method")
    h.add_argument("--limit", type=int, default=20)
    h.add_argument("--store", metavar="FILE")
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
    _add_finetune_parser(sub)
    return parser


class _StopOnInterrupt:
    """First Ctrl-C stops the sweep after keeping the finished runs; a second one aborts at once."""

    def __init__(self):
        self.flag = False

    def requested(self) -> bool:
        return self.flag

    def _handle(self, signum, frame) -> None:
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True
        print("\nstopping: finished runs are kept (Ctrl-C again to abort now)", file=sys.stderr)

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self.previous)


def _cmd_sweep(args) -> None:
    from .run import LatencySpec
    from .store import Store
    from .sweep import grid_configs, make_executor, parse_grid, run_sweep
    from .zoo import load_model

    owl = {k: getattr(args, k) for k in ("owl_m", "owl_lambda") if getattr(args, k) is not None}
    configs = grid_configs([m.strip() for m in args.methods.split(",") if m.strip()], parse_grid(args.sparsity),
                           pattern=args.pattern, allocation=args.allocation, scope=args.scope, seed=args.seed,
                           calib_samples=args.calib_samples, **owl)
    _check_output_file(args.out, "--out")
    store = Store(args.store, on_wait=_say)
    store.require_writable()  # before loading the model: a read-only store fails now, not after the first run
    executor = make_executor(args.executor, args.ray_address, args.fallback_local)  # before loading the model
    if executor.note:
        print(f"note: {executor.note}", file=sys.stderr)
    loaded = load_model(args.model)

    def progress(i: int, n: int, config) -> None:
        bar = "#" * (20 * i // n) + "." * (20 - 20 * i // n)
        print(f"\r[{bar}] {i}/{n} {config.method} {config.sparsity:.2f}   ", end="", file=sys.stderr, flush=True)

    stop = _StopOnInterrupt()
    with stop:
        frame = run_sweep(loaded, configs, store, LatencySpec.for_model(loaded.card), progress=progress,
                          should_stop=stop.requested, executor=executor)
    print(file=sys.stderr)
    if frame.attrs["partial"]:
        print(f"stopped: {len(frame)} of {len(configs)} runs finished and kept", file=sys.stderr)
    if frame.empty:
        return
    if args.out:
        frame.to_csv(args.out, index=False)
    if args.json:
        for row in frame.to_dict("records"):
            print(json.dumps(row, default=str))
        return
    cols = ["method", "allocation", "sparsity_target", "sparsity_actual", "quality", "latency_ms", "params_nonzero"]
    print(f"{loaded.name}: {len(frame)} runs in {frame.attrs['seconds']:.1f} s ({frame.attrs['executor']} "
          f"executor), stored in {store.path} "
          f"(sweep {frame.attrs['sweep']}); dense {frame['quality_metric'].iloc[0]} {frame['quality_dense'].iloc[0]:.4f}")
    print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_history(args) -> None:
    from .store import Store, default_path

    if args.limit < 1:
        raise PruneScopeError(f"--limit must be at least 1, got {args.limit}")
    path = Path(args.store) if args.store else default_path()
    if not path.exists():  # reading creates nothing
        print(f"no stored runs (no results store at {path} yet)")
        return
    frame = Store(path, on_wait=_say).runs(args.model, args.method, args.limit)
    if frame.empty:
        print("no stored runs")
        return
    print(frame.drop(columns=["environment"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _cmd_models() -> None:
    from .zoo import embedded_cards

    for c in embedded_cards():
        q = f"{c['quality_metric']} {c['quality_dense']:.3f}" if c.get("quality_dense") is not None else ""
        print(f"{c['name']:<22} {c['task']:<25} {c['params'] / 1e6:7.2f} M params  {q}")
        print(f"{'':<22} source: {c['source']}; licence: {c['licence']}")


def _cmd_methods() -> None:
    from .methods import available

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
    for title, table in (("patterns", PATTERNS), ("allocations", ALLOCATIONS), ("scopes", SCOPES)):
        print(f"{title}:")
        for name, text in table.items():
            print(f"  {name:<12} {text}")


def _check_positive(args) -> None:
    for flag in ("batch", "seq_len", "reps", "threads"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise PruneScopeError(f"--{flag.replace('_', '-')} must be at least 1")


_PRUNE_FLAGS = ("method", "sparsity", "pattern", "allocation", "scope", "include_head", "seed", "calib_samples",
                "calib_seq_len", "damping", "owl_m", "owl_lambda")


def _prune_settings(args) -> tuple[str, PruneConfig]:
    """(model, PruneConfig) from --recipe and/or the flags, validated before anything loads."""
    from dataclasses import replace

    from .recipe import read_recipe

    if args.recipe:
        model, config, ft, _ = read_recipe(args.recipe)
        if ft is not None:
            raise PruneScopeError(f"recipe '{args.recipe}' also fine-tunes; replay it with "
                                  f"`python -m prune_core finetune --recipe {args.recipe}`")
    else:
        missing = [f for f, v in (("--model", args.model), ("--sparsity", args.sparsity)) if v is None]
        if missing:
            raise PruneScopeError(f"the following arguments are required: {', '.join(missing)} (or --recipe FILE)")
        model, config = args.model, PruneConfig()
    given = {k: getattr(args, k) for k in _PRUNE_FLAGS if getattr(args, k) is not None}
    return args.model or model, replace(config, **given).validated()


def _check_output_file(path: str | None, flag: str) -> None:
    """An output file's folder must exist: found out before the work, not after it."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir() or not target.parent.is_dir():
        raise PruneScopeError(f"{flag} {path}: " + ("is a folder; give a file name" if target.is_dir() else
                                                    f"the folder {target.parent} does not exist"))


def _cmd_prune(args) -> None:
    from .export import check_export_dir
    from .recipe import export_pruned
    from .run import LatencySpec, check_fits, run
    from .zoo import load_model

    _check_positive(args)
    name, config = _prune_settings(args)  # fail fast, before loading
    if args.export:
        check_export_dir(args.export)
    loaded = load_model(name)
    default = LatencySpec.for_model(loaded.card)
    spec = LatencySpec(args.batch, args.seq_len or default.seq_len, args.reps or default.reps, 2, args.threads)
    check_fits(loaded, config, spec)  # sequence lengths against this model, before the prune
    result, pruned = run(loaded, config, latency=spec, measure_file=not args.no_file_size)
    record = result.summary() | {"layers": [l.to_dict() for l in result.layers], "notes": result.notes,
                                 "owl": result.owl}
    if args.export:
        export_pruned(pruned, loaded, result, config, args.export)
        record["export_dir"] = args.export
    if args.json:
        print(json.dumps(record, default=str))
        return
    q = lambda v: f"{v:.4f}"  # noqa: E731
    print(f"{result.model}: {result.method} {result.pattern} ({result.allocation}, scope {result.scope})")
    if result.structure is not None:
        print(f"  removed    {result.sparsity_actual:.2%} of {result.params_in_scope:,} weights in scope "
              f"(whole {result.pattern}s); the model is {1 - result.params_total / result.size_dense.params_total:.1%} "
              "smaller")
    else:
        print(f"  sparsity   target {result.sparsity_target:.1%}  reached {result.sparsity_actual:.2%} of "
              f"{result.params_in_scope:,} weights in scope; {result.sparsity_model:.2%} of the whole model")
    print(f"  params     {result.params_total:,} total, {result.params_nonzero:,} nonzero")
    print(f"  {result.quality_metric:<10} dense {q(result.quality_dense)}  pruned {q(result.quality)}")
    print(f"  latency    dense {result.latency_ms_dense:.2f} ms  pruned {result.latency_ms:.2f} ms  "
          f"({result.latency_pruned.setup})")
    for key in ("dense_fp32", "csr", "bitmask", "nm_2_4", "file_zstd"):
        d, p_ = getattr(result.size_dense, key), getattr(result.size_pruned, key)
        fmt = lambda b: "n/a" if b is None else f"{b / 1e6:.2f} MB"  # noqa: E731
        print(f"  size {key:<10} dense {fmt(d):>11}  pruned {fmt(p_):>11}")
    print(f"  note       {result.speed_note}")
    for note in result.notes:
        print(f"  note       {note}")
    if args.export:
        print(f"  exported to {args.export} (rebuild: python -m prune_core prune --recipe {args.export}/recipe.json)")


_PAPER_FLAGS = ("model", "methods", "sparsity", "tolerance", "seeds", "steps", "claims")


def _paper_settings(args):
    """(settings, claims, the replayed card or None); a card carries its own settings, so --replay takes none."""
    from dataclasses import replace

    from . import paper
    from .sweep import parse_grid

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


def _cmd_paper(args) -> None:
    from . import paper
    from .zoo import load_model

    settings, claims, card = _paper_settings(args)
    _check_output_file(args.card_out, "--card-out")
    loaded = load_model(settings.model)
    results = paper.run_claims(loaded, settings, claims,
                               lambda m, f: print(f"\r{m:<70}", end="", file=sys.stderr, flush=True))
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


def _quiet() -> None:
    """Keep stdout/stderr for results and errors: no download bars or length warnings."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    _quiet()
    try:
        args = _build_parser().parse_args(argv)
        if args.command == "models":
            _cmd_models()
        elif args.command == "methods":
            _cmd_methods()
        elif args.command == "sweep":
            _cmd_sweep(args)
        elif args.command == "history":
            _cmd_history(args)
        elif args.command == "paper":
            _cmd_paper(args)
        elif args.command == "finetune":
            _cmd_finetune(args)
        else:
            _cmd_prune(args)
    except PruneScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _add_finetune_parser(sub) -> None:
    f = sub.add_parser("finetune", help="prune, then fine-tune keeping the pattern (gradual/movement: prune "
                                        "while training); or replay a recipe")
    f.add_argument("--recipe", metavar="FILE", help="replay a recipe JSON (from --export or the Paper page); "
                                                    "flags given as well override it")
    f.add_argument("--model", help="embedded name, local model folder, or hub id")
    f.add_argument("--method", help="any method; gradual and movement prune during training (default magnitude)")
    f.add_argument("--sparsity", type=float, help="fraction in [0, 1); 0 fine-tunes the dense model (a control)")
    f.add_argument("--pattern", help="unstructured (default), 2:4, 4:8 (any N:M)")
    f.add_argument("--allocation", choices=list(ALLOCATIONS))
    f.add_argument("--scope", choices=list(SCOPES))
    f.add_argument("--seed", type=int, help="pruning and batch-order seed (default 0)")
    _add_owl_flags(f)
    f.add_argument("--steps", type=int, help="optimizer steps (default 100)")
    f.add_argument("--lr", type=float, help="peak learning rate (default 5e-4)")
    f.add_argument("--batch-size", type=int, help="sequences per step (default 16)")
    f.add_argument("--seq-len", type=int, help="LM training window in tokens (default 64)")
    f.add_argument("--eval-every", type=int, help="steps between validation losses (default 10)")
    f.add_argument("--device", help="auto (GPU when present), cpu, cuda")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.add_argument("--export", metavar="DIR", help="write the fine-tuned model (safetensors) and recipe.json here")


def _finetune_settings(args):
    """(model, PruneConfig, FinetuneConfig, recipe environment) from --recipe and/or the flags."""
    from dataclasses import replace

    from .finetune import FinetuneConfig
    from .recipe import read_recipe

    if args.recipe:
        model, config, ft, env = read_recipe(args.recipe)
    else:
        if args.model is None or args.sparsity is None:
            missing = [f for f, v in (("--model", args.model), ("--sparsity", args.sparsity)) if v is None]
            raise PruneScopeError(f"the following arguments are required: {', '.join(missing)} (or --recipe FILE)")
        model, config, ft, env = args.model, PruneConfig(), FinetuneConfig(), {}
    model = args.model or model
    prune_kw = {k: getattr(args, k) for k in ("method", "sparsity", "pattern", "allocation", "scope", "seed", "owl_m",
                                              "owl_lambda") if getattr(args, k) is not None}
    ft_kw = {k: getattr(args, k) for k in ("steps", "lr", "batch_size", "seq_len", "eval_every", "device")
             if getattr(args, k) is not None}
    if args.seed is not None:
        ft_kw["seed"] = args.seed
    return model, replace(config, **prune_kw).validated(), replace(ft or FinetuneConfig(), **ft_kw).validated(), env


def _cmd_finetune(args) -> None:
    from .finetune import finetune
    from .recipe import export_finetuned
    from .zoo import load_model

    name, config, ft, env = _finetune_settings(args)  # fail fast, before loading
    if args.export:
        from .export import check_export_dir

        check_export_dir(args.export)  # before training, not after
    loaded = load_model(name)

    def progress(point, steps: int) -> None:
        if point.val_loss is not None:
            print(f"step {point.step:>5}/{steps}  train loss {point.train_loss:.4f}  val loss {point.val_loss:.4f}  "
                  f"sparsity {point.sparsity:.2%}", file=sys.stderr, flush=True)

    result, model = finetune(loaded, config, ft, progress)
    import torch
    import transformers

    for key, now in (("torch", torch.__version__), ("transformers", transformers.__version__)):
        if env.get(key) not in (None, now):
            result.notes.append(f"the recipe was made with {key} {env[key]}; this is {now}: figures may differ slightly")
    record = result.summary() | {"notes": result.notes, "curve": [p.to_dict() for p in result.curve]}
    if args.export:
        export_finetuned(model, loaded, result, config, ft, args.export)
        record["export_dir"] = args.export
    if args.json:
        print(json.dumps(record, default=str))
        return
    q = lambda v: "n/a (pruned during training)" if v is None else f"{v:.4f}"  # noqa: E731
    print(f"{result.model}: {result.method} {result.pattern} {result.sparsity_target:.0%}, fine-tuned "
          f"{result.steps_done}/{result.steps} steps (lr {result.lr:g}, batch {result.batch_size}, seed {result.seed}) "
          f"on {result.device} in {result.seconds:.1f} s")
    print(f"  {result.quality_metric:<10} dense {q(result.quality_dense)}  one-shot {q(result.quality_pruned)}  "
          f"fine-tuned {q(result.quality)}")
    print(f"  sparsity   target {result.sparsity_target:.1%}  final {result.sparsity_actual:.2%} of "
          f"{result.params_in_scope:,} weights in scope (pattern kept at every step)")
    print(f"  loss       fine-tuned train {result.train_loss:.4f} val {result.val_loss:.4f} (gap "
          f"{result.generalization_gap:+.4f}); dense train {result.train_loss_dense:.4f} val "
          f"{result.val_loss_dense:.4f} (gap {result.generalization_gap_dense:+.4f})")
    if result.partial:
        print("  PARTIAL    stopped before the budget was spent")
    if result.diverged:
        print("  DIVERGED   the last good weights were restored")
    for note in result.notes:
        print(f"  note       {note}")
    if args.export:
        print(f"  exported to {args.export} (replay: python -m prune_core finetune --recipe "
              f"{args.export}/recipe.json)")
