"""The study's three claims as experiments on the embedded models, each with a plain verdict.

Gholami & Omar (2023) publish only an abstract, no code: these experiments are PruneScope's own
design, run on the models shipped here. Each claim gets a table of measured numbers and a verdict
("held", "did not hold" or "inconclusive") computed by a rule stated next to it. A
reproducibility card (settings, seeds, versions, hardware, verdicts) replays through the CLI.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Callable

import pandas as pd

from .config import MAX_SEED, PruneConfig
from .errors import PruneScopeError
from .finetune import finetune, finetune_baseline, recovery_budget
from .training_data import MAX_STEPS
from .methods import METHODS
from .progress import Progress, no_progress
from .quality import metric_named
from .store import environment
from .sweep import check_runs, grid_configs, run_sweep
from .tables import SIZE_LABELS
from .targets import find_targets
from .zoo import LoadedModel

PAPER = ('Gholami & Omar (2023), "Can pruning make Large Language Models more efficient?", '
         "arXiv:2310.04573")
DISCLAIMER = ("Only the paper's abstract is public, with no code. These experiments are PruneScope's own design, "
              "run on the small models shipped here: they test the claims, they do not reproduce the paper.")
CLAIMS = {
    "a": "Various pruning methods can be applied to Transformers, with effects on performance, size and compute.",
    "b": "With well-chosen hyperparameters, model size drops substantially without a considerable loss of "
         "performance.",
    "c": "When pruning is followed by fine-tuning, some pruned models even generalize better.",
}
MAX_SEEDS = 20  # claim (c) fine-tunes twice per seed
HELD, NOT_HELD, INCONCLUSIVE = "held", "did not hold", "inconclusive"


@dataclass(frozen=True)
class PaperSettings:
    """Every knob of the three experiments; the defaults finish in minutes on a laptop CPU."""

    model: str = "tiny-sentiment-bert"
    methods: tuple[str, ...] = ("random", "magnitude", "wanda", "sparsegpt")  # claims (a) and (b)
    sparsities: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    tolerance: float | None = None  # None: 1 accuracy point, or 5 % perplexity
    substantial: float = 0.5  # share of in-scope weights removed that counts as "substantial" for (b)
    c_method: str = "magnitude"  # claim (c): one-shot pruning, then recovery fine-tuning
    c_sparsity: float = 0.5
    c_seeds: tuple[int, ...] = (0, 1, 2)
    c_steps: int | None = None  # None: the model's recovery budget (prune_core.finetune.RECOVERY_BUDGETS)
    c_lr: float | None = None

    def validated(self) -> "PaperSettings":
        for m in self.methods + (self.c_method,):
            if m not in METHODS:
                raise PruneScopeError(f"unknown method '{m}'; available: {', '.join(METHODS)}")
        if not self.methods or not self.sparsities:
            raise PruneScopeError("claims (a) and (b) need at least one method and one sparsity")
        if any(not 0 < s < 1 for s in self.sparsities) or not 0 <= self.c_sparsity < 1:
            raise PruneScopeError("sparsities must lie in (0, 1)")
        # claims (a) and (b): every method at every sparsity, plus the neuron-removal variant
        check_runs((len(self.methods) + 1) * len(self.sparsities), "claims (a) and (b) need {n} runs")
        if self.tolerance is not None and not 0 < self.tolerance < math.inf:
            raise PruneScopeError(f"the tolerance must be a positive number, got {self.tolerance}")
        if not 0 < self.substantial <= 1:
            raise PruneScopeError(f"'substantial' is a share of the weights in (0, 1], got {self.substantial}")
        if not self.c_seeds:
            raise PruneScopeError("claim (c) needs at least one seed")
        if len(self.c_seeds) > MAX_SEEDS or any(not 0 <= s <= MAX_SEED for s in self.c_seeds):
            raise PruneScopeError(f"claim (c) takes at most {MAX_SEEDS} seeds, each from 0 to {MAX_SEED}; "
                                  f"got {len(self.c_seeds)}")
        if self.c_steps is not None and (isinstance(self.c_steps, bool) or not isinstance(self.c_steps, int)
                                         or not 1 <= self.c_steps <= MAX_STEPS):
            raise PruneScopeError(f"claim (c) needs a whole number of fine-tuning steps from 1 to {MAX_STEPS}, "
                                  f"got {self.c_steps!r}")
        if self.c_lr is not None and not (isinstance(self.c_lr, (int, float)) and 0 < self.c_lr < float("inf")):
            raise PruneScopeError(f"the learning rate must be a positive number, got {self.c_lr!r}")
        return self

    @classmethod
    def from_dict(cls, raw: dict) -> "PaperSettings":
        """Settings from a card (JSON): every field present and of its type, then validated."""
        if not isinstance(raw, dict):
            raise PruneScopeError(f"the card's 'settings' must be an object, got {type(raw).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise PruneScopeError(f"unknown settings in the card: {', '.join(sorted(unknown))}")
        missing = known - set(raw)
        if missing:
            raise PruneScopeError(f"the card's settings lack: {', '.join(sorted(missing))} (a card written by "
                                  "PruneScope has them all)")
        for name, value in raw.items():
            check, kind = _CARD_FIELDS[name]
            if not check(value):
                raise PruneScopeError(f"the card's setting '{name}' must be {kind}, got {json.dumps(value)[:80]}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}).validated()


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_text(v) -> bool:
    return isinstance(v, str) and bool(v)


def _list_of(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def _or_null(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda v: v is None or check(v)


# Each card setting: (type check, what it must be, for the message)
_CARD_FIELDS = {
    "model": (_is_text, "a model name (text)"), "methods": (_list_of(_is_text), "a list of method names"),
    "sparsities": (_list_of(_is_number), "a list of numbers"), "tolerance": (_or_null(_is_number), "a number or null"),
    "substantial": (_is_number, "a number"), "c_method": (_is_text, "a method name (text)"),
    "c_sparsity": (_is_number, "a number"), "c_seeds": (_list_of(_is_whole), "a list of whole numbers"),
    "c_steps": (_or_null(_is_whole), "a whole number or null"), "c_lr": (_or_null(_is_number), "a number or null"),
}


@dataclass
class ClaimResult:
    """One claim's experiment: the numbers, the verdict and the rule that produced it."""

    claim: str
    verdict: str
    because: str  # the numbers behind the verdict, in one or two sentences
    rule: str  # how the verdict is decided, stated up front
    table: pd.DataFrame = field(repr=False)
    partial: bool = False
    runs: pd.DataFrame | None = field(default=None, repr=False)  # every run behind the table, when there are many

    def to_dict(self) -> dict:
        return {"claim": self.claim, "statement": CLAIMS[self.claim], "verdict": self.verdict,
                "because": self.because, "rule": self.rule, "partial": self.partial,
                "table": self.table.to_dict(orient="records")}


def run_grid(loaded: LoadedModel, settings: PaperSettings, progress: Progress = no_progress,
             should_stop: Callable[[], bool] = lambda: False, store=None) -> pd.DataFrame:
    """Claims (a) and (b) share one grid: every method x sparsity, plus magnitude-chosen MLP neurons
    physically removed (the only variant here that can change dense compute)."""
    sparsities = list(settings.sparsities)
    configs = grid_configs(list(settings.methods), sparsities)
    configs += [PruneConfig(method="magnitude", sparsity=s, pattern="neuron", scope="all").validated()
                for s in sparsities]
    frame = run_sweep(loaded, configs, store, measure_file=False, should_stop=should_stop,
                      progress=lambda i, n, c: progress(i / max(n, 1),
                                                        f"{i}/{n}: {c.method} {c.pattern} at {c.sparsity:.0%}"))
    if not frame.empty:
        frame["series"] = [m + (" (neurons removed)" if p == "neuron" else "")
                           for m, p in zip(frame["method"], frame["pattern"])]
        # One yardstick for masks and removed neurons: the share of all prunable (Linear) weights gone.
        linear = sum(t.numel for t in find_targets(loaded.model, "all"))
        frame["share_removed"] = frame["sparsity_actual"] * frame["params_in_scope"] / linear
    return frame


def claim_a(frame: pd.DataFrame, tolerance: float | None = None) -> ClaimResult:
    """Every method applied; did performance, size and compute each move?"""
    rule = ("held when every method ran on the whole grid and all three effects were measured: held-out quality "
            "moved beyond the tolerance (performance), every masked model's sparse storage (bitmask + values) and "
            "the neuron-removed model's dense size shrank (size), and removing neurons cut measured latency by at "
            "least 5 % (compute); did not hold when none of the three moved; inconclusive otherwise.")
    if frame.empty:
        return ClaimResult("a", INCONCLUSIVE, "no run finished.", rule, frame, partial=True)
    metric, dense = metric_named(frame["quality_metric"].iloc[0]), float(frame["quality_dense"].iloc[0])
    rows = []
    for series, part in frame.groupby("series", sort=False):
        top = part.loc[part["sparsity_target"].idxmax()]
        rows.append({"series": series, "sparsity": float(top["sparsity_actual"]), "quality": float(top["quality"]),
                     "quality_dense": dense,
                     "quality_moved": not metric.within(top["quality"], dense, tolerance)
                     or not metric.within(dense, top["quality"], tolerance),
                     "bitmask_size_ratio": top["size_pruned_bitmask"] / top["size_dense_bitmask"]
                     if pd.notna(top.get("size_pruned_bitmask")) else None,
                     "dense_fp32_size_ratio": top["size_pruned_dense_fp32"] / top["size_dense_dense_fp32"],
                     "latency_ratio": top["latency_ms"] / top["latency_ms_dense"]})
    table = pd.DataFrame(rows)
    partial = bool(frame.attrs.get("partial"))
    masked = table[~table["series"].str.contains("neurons")]
    structured = table[table["series"].str.contains("neurons")]
    perf = bool(table["quality_moved"].any())
    size = bool((masked["bitmask_size_ratio"] < 1).all()) and bool((structured["dense_fp32_size_ratio"] < 1).all())
    compute = bool((structured["latency_ratio"] < 0.95).all()) if len(structured) else False
    because = (f"Held-out {metric.name} at the highest sparsity: "
               f"{', '.join(f'{r.series} {r.quality:.4g}' for r in table.itertuples())} (dense {dense:.4g}); "
               + ("some moved" if perf else "none moved") + f" beyond {metric.tolerance_text(tolerance)}. ")
    because += (f"Sparse storage shrank to {masked['bitmask_size_ratio'].min():.2f}–{masked['bitmask_size_ratio'].max():.2f}"
                f"× of dense for masks (their dense fp32 size stays 1.00×)" if len(masked) else "")
    if len(structured):
        because += (f"; removing neurons cut the dense size to {structured['dense_fp32_size_ratio'].iloc[0]:.2f}× and "
                    f"latency to {structured['latency_ratio'].iloc[0]:.2f}× of dense, while masked models ran at "
                    f"{masked['latency_ratio'].min():.2f}–{masked['latency_ratio'].max():.2f}× (dense kernels multiply "
                    "the zeros).")
    verdict = HELD if perf and size and compute and not partial else (
        NOT_HELD if not (perf or size or compute) else INCONCLUSIVE)
    return ClaimResult("a", verdict, because, rule, table, partial, frame)


def claim_b(frame: pd.DataFrame, tolerance: float | None = None, substantial: float = 0.5) -> ClaimResult:
    """Highest sparsity each method reaches within tolerance, and what it saves in each representation."""
    if frame.empty:
        return ClaimResult("b", INCONCLUSIVE, "no run finished.", "", frame, partial=True)
    metric, dense = metric_named(frame["quality_metric"].iloc[0]), float(frame["quality_dense"].iloc[0])
    tol = metric.tolerance_text(tolerance)
    rule = (f"held when some method removes at least {substantial:.0%} of the prunable (Linear) weights while staying within "
            f"{tol} of dense at that sparsity and every lower one on the grid; inconclusive when the best stays "
            "below that share; did not hold when no method stays within tolerance even at the lowest sparsity.")
    rows = []
    for series, part in frame.sort_values("sparsity_target").groupby("series", sort=False):
        best = None
        for r in part.itertuples():
            if not metric.within(r.quality, dense, tolerance):
                break
            best = r
        row = {"series": series, "max_sparsity": best.sparsity_target if best is not None else 0.0,
               "share_removed": best.share_removed if best is not None else 0.0,
               "quality": best.quality if best is not None else None, "quality_dense": dense}
        for rep in SIZE_LABELS:
            d, p = f"size_dense_{rep}", f"size_pruned_{rep}"
            ok = best is not None and p in part and pd.notna(getattr(best, p, None)) and getattr(best, d, 0)
            row[f"saved_{rep}"] = 1 - getattr(best, p) / getattr(best, d) if ok else None
        rows.append(row)
    table = pd.DataFrame(rows)
    top = table.loc[table["share_removed"].idxmax()]
    saved = {SIZE_LABELS[r]: top[f"saved_{r}"] for r in SIZE_LABELS if pd.notna(top[f"saved_{r}"])}
    because = (f"Best: {top['series']} stays within {tol} of dense ({dense:.4g}) up to {top['max_sparsity']:.0%} "
               f"sparsity = {top['share_removed']:.0%} of the prunable weights; the whole model (embeddings included) "
               "saves " + (", ".join(f"{v:.0%} in {k}" for k, v in saved.items()) or "nothing")
               + ". Prunable weights removed within tolerance, per method: "
               + ", ".join(f"{r.series} {r.share_removed:.0%}" for r in table.itertuples()) + ".")
    if top["share_removed"] >= substantial:
        verdict = HELD
    elif top["share_removed"] > 0:
        verdict = INCONCLUSIVE
    else:
        verdict = NOT_HELD
    return ClaimResult("b", verdict, because, rule, table, bool(frame.attrs.get("partial")))


def run_recovery(loaded: LoadedModel, settings: PaperSettings, progress: Progress = no_progress,
                 should_stop: Callable[[], bool] = lambda: False) -> pd.DataFrame:
    """Claim (c): per seed, prune one-shot then fine-tune keeping the mask; the dense model fine-tuned
    for the same steps is the control (is any gain from pruning, or just from more training?)."""
    def budget(seed: int):
        ft = recovery_budget(loaded.key, seed)
        return replace(ft, steps=settings.c_steps or ft.steps, lr=settings.c_lr or ft.lr).validated()

    baseline = finetune_baseline(loaded, budget(0))  # the dense figures, measured once for all seeds
    rows, jobs, done = [], [(seed, s) for seed in settings.c_seeds for s in (settings.c_sparsity, 0.0)], 0
    for i, (seed, sparsity) in enumerate(jobs):
        if should_stop():
            break
        what = "pruned" if sparsity else "dense (control)"
        ft = budget(seed)
        progress(i / len(jobs), f"{i}/{len(jobs)}: seed {seed}, {what}, fine-tuning {ft.steps} steps")
        config = PruneConfig(method=settings.c_method, sparsity=sparsity, seed=seed).validated()
        res, _ = finetune(loaded, config, ft, should_stop=should_stop, baseline=baseline)
        base = {"seed": seed, "metric": res.quality_metric}
        if sparsity:
            rows.append(base | {"variant": "dense", "quality": res.quality_dense, "train_loss": res.train_loss_dense,
                                "val_loss": res.val_loss_dense, "sparsity": 0.0})
            if res.quality_pruned is not None:  # None: the method prunes during training
                rows.append(base | {"variant": f"pruned {sparsity:.0%} ({settings.c_method})",
                                    "quality": res.quality_pruned, "train_loss": None, "val_loss": None,
                                    "sparsity": res.sparsity_actual})
            variant = "pruned + fine-tuned"
        else:
            variant = "dense + fine-tuned (control)"
        rows.append(base | {"variant": variant, "quality": res.quality, "train_loss": res.train_loss,
                            "val_loss": res.val_loss, "sparsity": res.sparsity_actual,
                            "partial": res.partial, "diverged": res.diverged, "steps": res.steps_done, "lr": ft.lr})
        done += 1
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["gap"] = frame["val_loss"] - frame["train_loss"]  # generalization gap (validation - train loss)
    frame.attrs["partial"] = done < len(jobs) or bool(frame.get("partial", pd.Series(dtype=bool)).fillna(False).any())
    return frame


def claim_c(frame: pd.DataFrame) -> ClaimResult:
    """Did pruned-and-fine-tuned beat dense on held-out data, in every seed?"""
    rule = ("held when the pruned-and-fine-tuned model beats the dense model on held-out data in every seed "
            "(so the gain exceeds the seed-to-seed spread); did not hold when it is worse in every seed; "
            "inconclusive otherwise. The dense model fine-tuned for the same steps is shown as a control.")
    tuned = frame[frame["variant"] == "pruned + fine-tuned"] if not frame.empty else frame
    if tuned.empty:
        return ClaimResult("c", INCONCLUSIVE, "no fine-tuning run finished.", rule, frame, partial=True)
    metric = metric_named(tuned["metric"].iloc[0])
    dense = frame[frame["variant"] == "dense"].set_index("seed")["quality"]
    gains = [metric.gain(q, dense[s]) for s, q in zip(tuned["seed"], tuned["quality"])]
    control = frame[frame["variant"] == "dense + fine-tuned (control)"]
    pruned = frame[frame["variant"].str.startswith("pruned ") & ~frame["variant"].str.contains("fine")]

    def spread(q: pd.Series) -> str:
        return f"{q.mean():.4g} (range {q.min():.4g}–{q.max():.4g})"

    because = (f"Held-out {metric.name} over {len(tuned)} seed(s): dense {dense.iloc[0]:.4g}; "
               + (f"pruned {spread(pruned['quality'])}; " if len(pruned) else "")
               + f"pruned + fine-tuned {spread(tuned['quality'])}"
               + (f"; dense + fine-tuned {spread(control['quality'])}" if len(control) else "")
               + f". Gain of pruned + fine-tuned over dense per seed: {', '.join(f'{g:+.4g}' for g in gains)}.")
    if len(control):
        beat = sum(metric.gain(t, c) > 0 for t, c in zip(tuned["quality"], control["quality"]))
        because += f" It beats the equally trained dense control in {beat} of {len(control)} seed(s)."
    verdict = HELD if all(g > 0 for g in gains) else NOT_HELD if all(g < 0 for g in gains) else INCONCLUSIVE
    return ClaimResult("c", verdict, because, rule, frame, bool(frame.attrs.get("partial")))


def reproducibility_card(settings: PaperSettings, results: list[ClaimResult]) -> dict:
    """Everything needed to rerun and compare: settings (seeds included), versions, hardware, verdicts."""
    return {"prunescope_card": 1, "paper": PAPER, "note": DISCLAIMER, "created": dt.datetime.now().isoformat(timespec="seconds"),
            "settings": asdict(settings), "environment": environment(),
            "verdicts": {r.claim: {"verdict": r.verdict, "because": r.because, "partial": r.partial} for r in results}}


def settings_from_card(card: dict) -> PaperSettings:
    return read_card(card)[0]


def read_card(card: dict) -> tuple[PaperSettings, str]:
    """(settings, the claims it has verdicts for) from a reproducibility card, checked field by field."""
    if not isinstance(card, dict) or card.get("prunescope_card") != 1 or "settings" not in card:
        raise PruneScopeError("this is not a PruneScope reproducibility card (no 'prunescope_card': 1 / 'settings')")
    verdicts = card.get("verdicts", {})
    if not isinstance(verdicts, dict) or not all(isinstance(v, dict) and isinstance(v.get("verdict"), str)
                                                 for v in verdicts.values()):
        raise PruneScopeError("the card's 'verdicts' must map each claim to an object with a 'verdict'")
    unknown = sorted(set(verdicts) - set(CLAIMS))
    if unknown:
        raise PruneScopeError(f"the card has verdicts for unknown claims: {', '.join(unknown)}; the claims are "
                              f"{', '.join(CLAIMS)}")
    return PaperSettings.from_dict(card["settings"]), "".join(sorted(verdicts))


def run_claims(loaded: LoadedModel, settings: PaperSettings, claims: str = "abc", progress: Progress = no_progress,
               should_stop: Callable[[], bool] = lambda: False, store=None) -> list[ClaimResult]:
    """Run the chosen claims' experiments (a and b share one grid) and judge each."""
    settings.validated()
    out = []
    if "a" in claims or "b" in claims:
        grid = run_grid(loaded, settings, progress, should_stop, store)
        if "a" in claims:
            out.append(claim_a(grid, settings.tolerance))
        if "b" in claims:
            out.append(claim_b(grid, settings.tolerance, settings.substantial))
    if "c" in claims:
        out.append(claim_c(run_recovery(loaded, settings, progress, should_stop)))
    return out
