"""The heavy-job gate and background jobs: at most `limit` at once, FIFO, cores shared, cancel.
Threads are synchronised with events and barriers, not sleeps."""
from __future__ import annotations

import threading
import time

import pytest
import torch
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from prune_core.errors import PruneScopeError
from prune_core.jobs import Job, JobGate, ordinal

from conftest import wait_until, start




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
