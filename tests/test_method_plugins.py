"""A method from outside prune_core, made visible only by PRUNESCOPE_METHODS (tests/plugins/every_other.py:
keeps every other weight, one declared parameter `phase`), reaches the CLI and the Explore page with its
parameter, with no other file naming it. Each check runs in a fresh process: the variable is read when
prune_core.methods is imported, and this test process's catalogue stays as it was."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "tests.plugins.every_other"


def _python(*args: str, plugins: str | None = PLUGIN, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PRUNESCOPE_METHODS"} | {"HF_HUB_OFFLINE": "1"}
    if plugins is not None:
        env["PRUNESCOPE_METHODS"] = plugins
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_plugin_is_an_option_of_the_cli_and_runs():
    """(Refusals of a parameter's option and value: tests/adversarial/test_cli_limits.py, with SparseGPT's.)"""
    out = _python("-m", "prune_core", "prune", "--help")
    assert out.returncode == 0, out.stderr
    assert "--phase" in out.stdout and "odd-numbered" in out.stdout  # the option, with its declared help
    run = _python("-m", "prune_core", "prune", "--model", "tiny-shakespeare-gpt", "--method", "every_other",
                  "--sparsity", "0.5", "--phase", "1", "--reps", "3", "--seq-len", "16", "--no-file-size", "--json")
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert record["method"] == "every_other" and record["phase"] == 1  # the parameter, under its own name
    assert abs(record["sparsity_actual"] - 0.5) < 1e-9


def test_without_the_variable_there_is_no_plugin():
    out = _python("-m", "prune_core", "prune", "--help", plugins=None)
    assert out.returncode == 0 and "--phase" not in out.stdout and "--damping" in out.stdout


def test_the_parameter_reaches_the_method():
    """phase 0 keeps the even columns, phase 1 the odd ones: the two masks are each other's complement."""
    script = ("import json, torch\n"
              "from prune_core.config import PruneConfig\nfrom prune_core.run import prune_model\n"
              "from prune_core.zoo import load_model\n"
              "gpt = load_model('tiny-shakespeare-gpt')\n"
              "masks = [prune_model(gpt, PruneConfig(method='every_other', sparsity=0.5,\n"
              "                                      method_params={'phase': p}))[0].masks for p in (0, 1)]\n"
              "print(json.dumps({'layers': len(masks[0]), 'complement': all(torch.equal(masks[0][n], ~masks[1][n]) "
              "for n in masks[0])}))\n")
    out = _python("-c", script)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == {"layers": 16, "complement": True}


def test_the_plugin_is_a_choice_of_explore_with_its_widget():
    """The Explore page (AppTest) offers the method, draws a number input for its parameter from the
    declaration, takes its value from the link and keeps it in the URL."""
    script = ("import json\nfrom streamlit.testing.v1 import AppTest\n"
              "at = AppTest.from_string('from pages.ui.picker import model_picker\\nfrom pages import explore\\n'\n"
              "                         'model_picker()\\nexplore.page()', default_timeout=300)\n"
              "at.query_params.update({'model': 'tiny-shakespeare-gpt', 'method': 'every_other', 'phase': '1', "
              "'reps': '3'})\n"
              "at.run()\n"
              "widget = at.number_input(key='param_every_other_phase')\n"
              "print(json.dumps({'exception': [str(e.value) for e in at.exception], "
              "'options': list(at.selectbox(key='method_weights').options), 'label': widget.label, "
              "'value': widget.value, 'url': at.query_params.get('phase'), "
              "'warnings': [w.value for w in at.warning if 'ignored' in w.value], "
              "'sparsity': [m.value for m in at.metric][:1]}))\n")
    out = _python("-c", script)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.splitlines()[-1])
    assert seen["exception"] == [] and seen["warnings"] == []
    assert "every_other" in seen["options"]
    assert seen["label"].startswith("Phase") and seen["value"] == 1 and seen["url"] == "1"
    assert seen["sparsity"] == ["50.0%"]


def test_a_plugin_that_fails_to_load_is_one_clear_error():
    cli = _python("-m", "prune_core", "methods", plugins="tests.plugins.no_such_module")
    assert cli.returncode == 2
    assert cli.stderr.strip().splitlines() == [
        "error: cannot load the pruning methods of tests.plugins.no_such_module (named in PRUNESCOPE_METHODS): "
        "ModuleNotFoundError: No module named 'tests.plugins.no_such_module'"]
    script = ("import json\nfrom streamlit.testing.v1 import AppTest\n"
              "at = AppTest.from_string('from pages.ui.picker import model_picker\\nfrom pages import explore\\n'\n"
              "                         'model_picker()\\nexplore.page()', default_timeout=300)\n"
              "at.run()\n"
              "print(json.dumps({'exception': len(at.exception), 'errors': [e.value for e in at.error]}))\n")
    page = _python("-c", script, plugins="tests.plugins.no_such_module")
    assert page.returncode == 0, page.stderr
    seen = json.loads(page.stdout.splitlines()[-1])
    assert seen["exception"] == 0 and len(seen["errors"]) == 1
    assert "tests.plugins.no_such_module" in seen["errors"][0] and "PRUNESCOPE_METHODS" in seen["errors"][0]
