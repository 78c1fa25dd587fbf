"""How often one Explore run (the cheap summary phase, then the measuring phase) re-validates settings.

Counts, with cProfile (no monkeypatching), the calls of `PruneConfig.validated` (and of the validation
itself), `parse_pattern` and `get_method` made by `summary.summarize` + `run.run` for a few settings, as the
Explore page chains them (its two cache keys, `config.validated()` in pages/ui/caches.py, come on top).
Re-run: `HF_HUB_OFFLINE=1 python3 bench/call_counts.py`.
"""
from __future__ import annotations

import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prune_core.config import PruneConfig  # noqa: E402
from prune_core.run import LatencySpec, dense_baseline, run  # noqa: E402
from prune_core.summary import summarize  # noqa: E402
from prune_core.zoo import load_model  # noqa: E402

# (file, function): PruneConfig's validation (`validated`; since issue 15 the work is `_resolution`, once per
# config, and `validated`/`resolved` only hand it out), and the two look-ups
COUNTED = (("config.py", "validated"), ("config.py", "_resolution"), ("patterns.py", "parse_pattern"),
           ("__init__.py", "get_method"), ("catalogue.py", "get_method"))
SETTINGS = [PruneConfig(method="magnitude", sparsity=0.5), PruneConfig(method="wanda", sparsity=0.5, calib_samples=4),
            PruneConfig(method="magnitude", sparsity=0.25, pattern="neuron")]


def counts(loaded, config: PruneConfig, baseline) -> dict[str, int]:
    """Calls of each COUNTED function (any module) during one summary + measuring phase."""
    profile = cProfile.Profile()
    profile.enable()
    summary = summarize(loaded, config)
    run(loaded, config, baseline, LatencySpec(seq_len=16, reps=1, warmup=0, threads=1), measure_file=False,
        summary=summary, evaluation="quick")
    profile.disable()
    found = {name: 0 for _, name in COUNTED}
    for (path, _, name), (_, calls, *_rest) in pstats.Stats(profile).stats.items():
        if (Path(path).name, name) in COUNTED and "prune_core" in path:
            found[name] += calls
    return found


def main() -> None:
    loaded = load_model("tiny-shakespeare-gpt")
    baseline = dense_baseline(loaded, measure_file=False, evaluation="quick")
    for config in SETTINGS:
        print(f"{config.method:>10} {config.pattern:<13}", counts(loaded, config, baseline))


if __name__ == "__main__":
    main()
