"""One server for a class: the heavy-job gate, the shared byte-bounded cache, pruned deltas and the
teacher's settings. Threads are synchronised with events and barriers, not sleeps."""
from __future__ import annotations

import threading
import time

import pytest
import torch
from streamlit.runtime.scriptrunner_utils.exceptions import StopException
from streamlit.testing.v1 import AppTest

from prune_core.budget import human
from prune_core.cache import SharedCache, nbytes
from prune_core.config import PruneConfig
from prune_core.delta import PruneDelta
from prune_core.errors import PruneScopeError
from prune_core.jobs import Job, JobGate, ordinal
from prune_core.run import prune_model
from prune_core.settings import Settings, settings
from prune_core.zoo import EMBEDDED, MODELS_DIR

from conftest import fingerprint

MB = 1024**2


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def start(fn, *args) -> threading.Thread:
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


# ---- the gate ---------------------------------------------------------------------------------
def test_gate_runs_at_most_limit_jobs_and_reaches_it():
    gate, lock = JobGate(2, poll=0.01), threading.Lock()
    now = peak = 0
    pair = threading.Barrier(2, timeout=20)  # only passable when two jobs run at the same time

    def job():
        nonlocal now, peak
        with gate.slot():
            with lock:
                now += 1
                peak = max(peak, now)
            pair.wait()
            with lock:
                now -= 1

    threads = [start(job) for _ in range(8)]
    for t in threads:
        t.join(30)
    assert not pair.broken and peak == 2 and gate.status().running == 0


def test_gate_shares_the_cores_between_the_jobs_running_now():
    gate = JobGate(2, cores=2)
    first_in, second_in, release = threading.Event(), threading.Event(), threading.Barrier(3)
    seen = {}

    def job(name, entered, other):
        with gate.slot():
            seen[f"{name} on entry"] = torch.get_num_threads()
            entered.set()
            assert other.wait(20)
            seen[f"{name} at the next phase"] = gate.share()
            assert torch.get_num_threads() == seen[f"{name} at the next phase"]
            release.wait(20)
        seen[f"{name} after"] = torch.get_num_threads()

    a = threading.Thread(target=job, args=("a", first_in, second_in))
    a.start()
    assert first_in.wait(20)
    b = threading.Thread(target=job, args=("b", second_in, first_in))
    b.start()
    assert second_in.wait(20)
    release.wait(20)
    a.join(20), b.join(20)
    assert seen["a on entry"] == 2  # alone: every core
    assert seen["b on entry"] == 1 and seen["a at the next phase"] == 1 == seen["b at the next phase"]
    assert seen["a after"] == seen["b after"] == 2  # out of the gate: every core again
    assert JobGate(2).share() == 0 and JobGate(2, cores=4).share() == 0  # no sharing / outside a slot: no-op


def test_gate_is_fifo_and_tells_each_waiter_its_place():
    gate = JobGate(1, poll=0.01)
    release, order, places = threading.Event(), [], {}

    def holder():
        with gate.slot():
            release.wait(20)

    def waiter(i):
        with gate.slot(lambda place, running: places.setdefault(i, []).append((place, running))):
            order.append(i)

    threads = [start(holder)]
    wait_until(lambda: gate.status().running == 1)
    for i in range(4):  # arrive one after the other
        threads.append(start(waiter, i))
        wait_until(lambda: gate.status().waiting == i + 1)
    wait_until(lambda: all(i in places for i in range(4)))
    release.set()
    for t in threads:
        t.join(20)
    assert order == [0, 1, 2, 3]
    for i in range(4):
        seen = [p for p, _ in places[i]]
        assert seen[0] == i + 1 and seen == sorted(seen, reverse=True)  # never moves back
        assert all(running <= 1 for _, running in places[i]) and places[i][0][1] == 1
    assert ordinal(1) == "1st" and ordinal(3) == "3rd" and ordinal(12) == "12th" and ordinal(22) == "22nd"


def test_a_failing_job_or_a_leaving_waiter_does_not_wedge_the_gate():
    gate = JobGate(1, poll=0.01)
    with pytest.raises(ValueError):
        with gate.slot():
            raise ValueError("bad settings")
    assert gate.status().running == 0
    hold, leave = threading.Event(), threading.Event()

    def holder():
        with gate.slot():
            hold.wait(20)

    def impatient(place, running):
        if leave.is_set():
            raise StopException()  # what Streamlit raises in a session whose user moved on

    errors = []

    def waiter():
        try:
            with gate.slot(impatient):
                pass
        except StopException:
            errors.append("left")

    threads = [start(holder)]
    wait_until(lambda: gate.status().running == 1)
    threads.append(start(waiter))
    wait_until(lambda: gate.status().waiting == 1)
    leave.set()
    wait_until(lambda: errors == ["left"])
    assert gate.status().waiting == 0
    hold.set()
    for t in threads:
        t.join(20)
    with gate.slot():  # free again
        with gate.slot():  # re-entry by the holding thread passes through
            assert gate.status().running == 1


def test_a_job_waits_its_place_reports_stops_on_request_and_keeps_its_result():
    gate = JobGate(1, poll=0.01)
    hold = threading.Event()
    blocker = Job(lambda job: hold.wait(20), gate).start()
    wait_until(lambda: gate.status().running == 1)

    def work(job: Job) -> int:
        steps = 0
        while not job.cancelled():
            steps += 1
            job.report(min(1.0, steps / 100), f"step {steps}")
            time.sleep(0.005)
        return steps
    job = Job(work, gate, about={"what": "counting"}).start()
    wait_until(lambda: job.place == 1 and job.busy == 1)  # in line behind the blocker
    assert job.running() and job.result is None and job.fraction == 0.0
    hold.set()
    wait_until(lambda: job.place == 0 and job.text.startswith("step"))
    job.cancel()
    assert job.wait(20) and not job.running() and blocker.wait(20)
    assert job.result >= 1 and job.error is None and job.about == {"what": "counting"}
    assert gate.status().running == 0 and job.started is not None


def test_a_failing_job_keeps_its_error_and_frees_its_slot():
    gate = JobGate(1, poll=0.01)

    def work(job: Job):
        raise PruneScopeError("bad settings")
    job = Job(work, gate).start()
    assert job.wait(20)
    assert isinstance(job.error, PruneScopeError) and str(job.error) == "bad settings" and job.result is None
    assert gate.status().running == 0
    assert Job(lambda job: 42).start().wait(20)  # without a gate: just a thread


def test_a_job_cancelled_while_in_line_leaves_the_line_at_once():
    gate = JobGate(1, poll=0.01)
    hold = threading.Event()
    blocker = Job(lambda job: hold.wait(20), gate).start()
    wait_until(lambda: gate.status().running == 1)
    job = Job(lambda job: "ran", gate).start()
    wait_until(lambda: job.place == 1)
    job.cancel()
    assert job.wait(5)  # not after the blocker: it left the line
    assert gate.status().waiting == 0 and job.result is None and job.error is None and blocker.running()
    hold.set()
    assert blocker.wait(20) and gate.status().running == 0


# ---- the shared cache -------------------------------------------------------------------------
def tensor_mb(n: int) -> torch.Tensor:
    return torch.zeros(n * MB // 4)


def test_identical_requests_are_computed_once_and_shared():
    cache = SharedCache(100 * MB, JobGate(2, poll=0.01), poll=0.01)
    calls, go = [], threading.Event()

    def compute(progress):
        calls.append(1)
        progress(0.5, "halfway")
        go.wait(20)
        return tensor_mb(1)

    seen, results = [], []
    threads = [start(lambda: results.append(cache.get("k", compute, heavy=True)))]
    wait_until(lambda: calls)
    threads += [start(lambda: results.append(cache.get("k", compute, heavy=True, on_update=seen.append)))
                for _ in range(3)]
    wait_until(lambda: len(seen) >= 3)
    go.set()
    for t in threads:
        t.join(20)
    assert len(calls) == 1 and len(results) == 4 and all(r is results[0] for r in results)
    assert any(s.state == "shared" and "halfway" in s.text for s in seen)


def test_a_waiter_takes_over_when_the_computing_session_leaves():
    cache = SharedCache(100 * MB, JobGate(2, poll=0.01), poll=0.01)
    first_in, calls = threading.Event(), []

    def compute(progress):
        calls.append(1)
        if len(calls) == 1:
            first_in.set()
            wait_until(lambda: waiting[0])
            raise StopException()  # the first session's user moved the slider on
        return "value"

    waiting, out = [False], []

    def owner():
        with pytest.raises(StopException):
            cache.get("k", compute, heavy=True)

    def waiter():
        out.append(cache.get("k", compute, heavy=True, on_update=lambda s: waiting.__setitem__(0, True)))

    threads = [start(owner)]
    first_in.wait(20)
    threads.append(start(waiter))
    for t in threads:
        t.join(20)
    assert out == ["value"] and len(calls) == 2 and "k" in cache


def test_an_error_reaches_every_waiter_and_is_not_cached():
    cache = SharedCache(100 * MB, JobGate(1, poll=0.01), poll=0.01)
    go, errors = threading.Event(), []

    def bad(progress):
        go.wait(20)
        raise PruneScopeError("sparsity must be in [0, 1)")

    def ask():
        try:
            cache.get("bad", bad, heavy=True, on_update=lambda s: None)
        except PruneScopeError as exc:
            errors.append(str(exc))

    threads = [start(ask)]
    wait_until(lambda: cache._flights)
    threads.append(start(ask))
    time.sleep(0.05)
    go.set()
    for t in threads:
        t.join(20)
    assert errors == ["sparsity must be in [0, 1)"] * 2 and "bad" not in cache
    assert cache.get("bad", lambda p: 1) == 1  # the next request computes again


def test_entries_are_evicted_by_bytes_least_recently_used_first():
    cache = SharedCache(int(3.5 * MB))
    for key in "abc":
        cache.get(key, lambda p: tensor_mb(1))
    cache.get("a", lambda p: pytest.fail("a is cached"))  # a is now the most recently used
    kept_b = cache.get("b", lambda p: pytest.fail("b is cached"))
    cache.get("d", lambda p: tensor_mb(1))  # 4 MB > 3.5 MB: the least recently used (c) goes
    usage = cache.usage()
    assert "c" not in cache and all(k in cache for k in "abd")
    assert usage.entries == 3 and 3 * MB <= usage.used <= 3.5 * MB and usage.by_kind == {"result": usage.used}
    del kept_b
    cache.get("big", lambda p: tensor_mb(2))  # needs two of the oldest (a, b) to go
    assert "big" in cache and "d" in cache and cache.usage().used <= 3.5 * MB


def test_a_kind_with_a_limit_evicts_only_its_own_entries():
    """Per-setting results have their own small share: many slider moves push out old results,
    never the models, and the results' bytes stay within their limit (bounded RSS over a lesson)."""
    cache = SharedCache(100 * MB, limits={"result": int(2.5 * MB)})
    cache.get("model", lambda p: tensor_mb(10), kind="model")
    for i in range(6):
        cache.get(("run", i), lambda p: (tensor_mb(1), "delta"))  # tuples: gone once evicted
    usage = cache.usage()
    assert "model" in cache and usage.by_kind["model"] == 10 * MB and 2 * MB <= usage.by_kind["result"] <= 2.5 * MB
    assert [("run", 4) in cache, ("run", 5) in cache, ("run", 3) in cache] == [True, True, False]
    assert cache.get(("run", 6), lambda p: tensor_mb(3)).numel() * 4 == 3 * MB  # over the limit alone:
    assert ("run", 6) not in cache and cache.usage().not_kept == 1  # handed out, not kept


def test_server_settings_give_results_a_small_share_of_the_cache():
    s = Settings.from_env({"PRUNESCOPE_MEMORY_BUDGET": "12G"})
    assert s.results_bytes == s.cache_bytes // 32 and 200 * MB < s.results_bytes < 250 * MB


def test_a_value_larger_than_the_budget_is_returned_but_not_kept():
    cache = SharedCache(2 * MB)
    cache.get("small", lambda p: tensor_mb(1))
    big = cache.get("big", lambda p: tensor_mb(3))
    assert big.numel() * 4 == 3 * MB and "big" not in cache and "small" in cache
    assert cache.usage().not_kept == 1


def test_an_evicted_value_still_in_use_is_adopted_not_recomputed():
    cache = SharedCache(int(1.5 * MB))
    model = cache.get("model", lambda p: torch.nn.Linear(512, 512), kind="model")  # ~1 MB
    cache.get("other", lambda p: tensor_mb(1))  # evicts the model, which a session still holds
    assert "model" not in cache
    again = cache.get("model", lambda p: pytest.fail("recomputed a model that is still in memory"))
    assert again is model


def test_a_slot_holder_never_waits_for_a_job_stuck_in_line_behind_it():
    """Limit 1: A holds the slot and needs X; B started computing X first but waits in line for
    A's slot. Waiting for B would deadlock; A computes X itself and B then finds it cached."""
    gate = JobGate(1, poll=0.01)
    cache = SharedCache(100 * MB, gate, poll=0.01)
    a_has_slot, calls, out = threading.Event(), [], {}

    def a():
        with gate.slot():
            a_has_slot.set()
            wait_until(lambda: gate.status().waiting == 1)  # B is in line
            out["a"] = cache.get("x", lambda p: calls.append("a") or "x", heavy=True)

    def b():
        out["b"] = cache.get("x", lambda p: calls.append("b") or "x", heavy=True)

    threads = [start(a)]
    a_has_slot.wait(20)
    threads.append(start(b))
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads)
    assert out == {"a": "x", "b": "x"} and calls == ["a"]


def test_nbytes_counts_shared_storage_once():
    w = tensor_mb(2)
    assert 2 * MB <= nbytes({"a": w, "b": w[: 10], "c": [w]}) < 2 * MB + 4096
    assert nbytes(torch.nn.Linear(256, 256)) == (256 * 256 + 256) * 4


# ---- pruned deltas instead of pruned copies -----------------------------------------------------
@pytest.mark.parametrize("config", [PruneConfig(method="magnitude", sparsity=0.5),
                                    PruneConfig(method="sparsegpt", sparsity=0.6, calib_samples=4),
                                    PruneConfig(method="magnitude", sparsity=0.5, pattern="neuron"),
                                    PruneConfig(method="magnitude", sparsity=0.0)],
                         ids=["magnitude", "sparsegpt", "neurons", "dense"])
def test_delta_rebuilds_the_pruned_copy_exactly_and_is_much_smaller(gpt, config):
    before = fingerprint(gpt.model)
    mask_set, pruned = prune_model(gpt, config)
    plan = mask_set.plan.to_dict() if mask_set.plan is not None else None
    delta = PruneDelta.between(gpt.model, pruned, plan)
    rebuilt = delta.build(gpt.model)
    assert fingerprint(gpt.model) == before  # the shared base is never written to
    got, want = dict(rebuilt.named_parameters()), dict(pruned.named_parameters())
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert nbytes(delta) < nbytes(pruned) / (1.9 if config.method == "sparsegpt" else 10)
    for t in mask_set.targets:  # one pruned matrix without a copy: what the histogram shows
        w = delta.weight(gpt.model, t.name)
        assert int((w != 0).sum()) == int(mask_set.masks[t.name].sum()) or config.method == "sparsegpt"
    same = PruneDelta.between(gpt.model, prune_model(gpt, config)[1], plan)
    assert same.digest == delta.digest  # the key of results computed from it (samples)


# ---- teacher's settings -----------------------------------------------------------------------
def test_settings_from_the_environment(tmp_path):
    folder = MODELS_DIR / "tiny-shakespeare-gpt"
    s = Settings.from_env({"PRUNESCOPE_CLASSROOM": "1", "PRUNESCOPE_EXTRA_MODELS": f"{folder}:",
                           "PRUNESCOPE_MAX_JOBS": "3", "PRUNESCOPE_MEMORY_BUDGET": "2G"})
    assert s.classroom and not s.custom_models and s.max_jobs == 3 and s.memory_budget == 2 * 1024**3
    assert s.models() == list(EMBEDDED) + [str(folder)] and s.cache_bytes < s.memory_budget
    s.check_model("smollm2-135m")
    s.check_model(str(folder))
    for name in (str(tmp_path), "owner/model", "../etc"):
        with pytest.raises(PruneScopeError, match="classroom"):
            s.check_model(name)
    Settings.from_env({}).check_model(str(tmp_path))  # not a classroom: anything may be tried
    for env, match in (({"PRUNESCOPE_CLASSROOM": "maybe"}, "1 .on. or 0"), ({"PRUNESCOPE_MAX_JOBS": "0"}, "whole"),
                       ({"PRUNESCOPE_EXTRA_MODELS": str(tmp_path)}, "config.json"),
                       ({"PRUNESCOPE_MEMORY_BUDGET": "lots"}, "not a size")):
        with pytest.raises(PruneScopeError, match=match):
            Settings.from_env(env)


@pytest.fixture
def classroom(monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_CLASSROOM", "1")
    monkeypatch.setenv("PRUNESCOPE_EXTRA_MODELS", str(MODELS_DIR / "tiny-sentiment-bert"))
    settings.cache_clear()
    yield
    settings.cache_clear()


def test_classroom_picker_offers_only_the_zoo_and_the_teachers_models(classroom):
    at = AppTest.from_string("from pages.common import model_picker\nfrom pages import models\n"
                             "model_picker()\nmodels.page()", default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    picker = at.sidebar.selectbox(key="model_choice")
    assert picker.options == list(EMBEDDED) + ["tiny-sentiment-bert (added by the teacher)"]
    assert not at.sidebar.text_input  # no folder / hub id box
    text = " ".join(m.value for m in at.markdown)
    assert "classroom" in text.lower() and "heavy" in text.lower()


def test_classroom_refuses_a_model_typed_in_behind_the_picker(classroom):
    at = AppTest.from_string("import streamlit as st\nfrom pages.common import get_model\n"
                             "st.session_state['model'] = '/tmp'\nget_model()", default_timeout=60)
    at.run()
    assert not at.exception and "not offered on this classroom server" in at.error[0].value


def test_model_zoo_page_shows_memory_use_against_the_budget():
    at = AppTest.from_string("from pages.common import model_picker\nfrom pages import explore, models\n"
                             "model_picker()\nexplore.page()\nmodels.page()", default_timeout=300)
    at.session_state["model_choice"] = "tiny-shakespeare-gpt"
    at.run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    loaded = text.split("models loaded: ", 1)[1]  # earlier tests in this process may have loaded others too
    assert "tiny-shakespeare-gpt" in loaded.split(".")[0] and "results" in text
    metrics = {m.label: (m.value, m.delta) for m in at.metric}
    used, capacity = metrics["Cached models and results"]
    assert used.endswith("MB") and float(used.split()[0]) > 7  # the 7.4 MB model is counted
    assert capacity == f"of {human(settings().cache_bytes)} for the cache"
    assert metrics["Server process memory"][1] == f"of {human(settings().memory_budget)} budget"
