"""A class on one server: N headless-browser sessions move the Explore slider at the same moment.

Starts its own server (`streamlit run app.py`, as scripts/run.sh does),
opens N Chromium contexts on Explore, gives session i the seed i (so no two sessions ask for the
same run: the worst case; --shared gives all the same seed), then makes M moves: in each, every
session presses one arrow key on the sparsity slider at the same moment (the direction turns at
0 % and 95 %; at each turn the seed changes too, so every setting is new and no cache helps).

Per move and session it times the key press until (a) the new sparsity is on screen and (b) the
app is idle (all results drawn); checks the figures are right (sparsity exact, held-out quality
against the same run computed here before the moves, for models under 50 M parameters or with
--verify); counts errors (exceptions, st.error boxes, timeouts, a dead server); and samples the
server's RSS: before the moves, peak, after each move, and after --settle seconds idle; and the CPU
seconds the server and the browsers used during the moves (they share the machine's cores here).

    python bench/classroom.py --model tiny-shakespeare-gpt --sessions 10 --moves 5
    python bench/classroom.py --model smollm2-135m --sessions 5 --moves 2
    python bench/classroom.py --model smollm2-135m --sessions 1 --moves 200 --progress 20
    python bench/classroom.py --tour      # one user through the four zoo models: RSS after each
    python bench/classroom.py --server-cpus 0,1   # a 2-core server, the browsers on the other cores

By default the browsers share the server's cores, which in a real class run on the students' own
machines. On a machine with more than two cores, --server-cpus pins the server to those cores and the
bench with its browsers to the rest: a class on one 2-core server, as the issue puts it.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402
from prune_core.memory import process_rss  # noqa: E402

STEP, TOP = 5, 95  # the Explore slider: 0..95 % in steps of 5
# Idle: no "running" widget and no element left over from the previous run (Streamlit marks those stale).
IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"], [data-stale="true"]')"""
SHOWS = """(pct) => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
             m.innerText.includes('Weights removed') &&
             m.querySelector('[data-testid="stMetricValue"]').innerText.trim() === pct)"""
PROBLEMS = """() => document.querySelectorAll('[data-testid="stException"], [data-testid="stAlertContentError"]').length"""


@dataclass
class Session:
    index: int
    page: object
    seed: int
    sparsity: int = 50
    direction: int = 1
    shown: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


def plan_moves(moves: int, seed: int, stride: int) -> list[tuple[str, int, int]]:
    """('slider' | 'seed', sparsity %, seed) after each move: a seed change at every turn."""
    out, s, d = [], 50, 1
    for _ in range(moves):
        if not 0 <= s + d * STEP <= TOP:
            d, seed = -d, seed + stride
            out.append(("seed", s, seed))
        else:
            s += d * STEP
            out.append(("slider", s, seed))
    return out


def expected_quality(model: str, sparsities: set[int]) -> dict[int, float]:
    """The held-out quality of each magnitude run (the page's default quick evaluation), computed in
    this process before the moves."""
    import torch

    from prune_core.config import PruneConfig
    from prune_core.run import prune_model, quality_estimate
    from prune_core.zoo import load_model

    torch.set_num_threads(2)
    loaded = load_model(model)
    return {s: quality_estimate(loaded, prune_model(loaded, PruneConfig(method="magnitude", sparsity=s / 100))[1],
                                "quick").value
            for s in sorted(sparsities)}


def quality_mismatch(expected: dict[int, float], sparsity: int, shown: float) -> str | None:
    """Why the shown held-out quality is not the in-process run's (relative tolerance 1e-3), or None."""
    want = expected[sparsity]
    return f"{sparsity} %: shows {shown}, expected {want:.4g}" if abs(shown - want) > 1e-3 * abs(want) else None


async def metric(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]', has_text=label).first
    return (await card.locator('[data-testid="stMetricValue"]').inner_text()).strip()


async def settle(session: Session, pct: str, timeout: float, start: float) -> None:
    """Wait for the new sparsity on screen, then for the idle app; record both times."""
    page = session.page
    await page.wait_for_function(SHOWS, arg=pct, timeout=timeout * 1000, polling=50)
    session.shown.append(time.perf_counter() - start)
    await page.wait_for_function(IDLE, timeout=timeout * 1000, polling=50)
    await page.wait_for_function(SHOWS, arg=pct, timeout=timeout * 1000, polling=50)
    session.done.append(time.perf_counter() - start)


async def set_seed(page, seed: int) -> None:
    box = page.get_by_label("Seed", exact=True)
    await box.fill(str(seed))
    await box.press("Enter")


async def move(session: Session, kind: str, sparsity: int, seed: int, timeout: float,
               expected: dict[int, float] | None) -> None:
    page = session.page
    start = time.perf_counter()
    try:
        if kind == "seed":  # the sparsity on screen stays: wait until the rerun has taken the new seed
            await set_seed(page, seed)
            await page.wait_for_function("(s) => new URLSearchParams(location.search).get('seed') === s",
                                         arg=str(seed), timeout=timeout * 1000, polling=20)
        else:
            await page.keyboard.press("ArrowRight" if sparsity > session.sparsity else "ArrowLeft")
        await settle(session, f"{sparsity:.1f}%", timeout, start)
        session.sparsity, session.seed = sparsity, seed
        if await page.evaluate(PROBLEMS):
            session.errors.append(f"error box at {sparsity} %: {(await page.inner_text('body'))[-300:]!r}")
        if expected is not None:
            label = "Held-out perplexity" if await page.locator("text=Held-out perplexity").count() else "Held-out accuracy"
            if wrong := quality_mismatch(expected, sparsity, float(await metric(page, label))):
                session.wrong.append(wrong)
    except Exception as exc:  # timeouts, a dead page: counted, the bench goes on
        session.errors.append(f"{kind} to {sparsity} %: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    finally:
        await page.get_by_role("slider").first.focus()


async def pick_model(page, model: str, timeout: float) -> None:
    """Choose a model in the sidebar picker and wait for its first results."""
    await page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    await page.get_by_role("option", name=model, exact=True).click()
    await page.wait_for_function("(m) => document.body.innerText.includes(m + ' · ')", arg=model,
                                 timeout=timeout * 1000, polling=100)
    await page.wait_for_function(IDLE, timeout=timeout * 1000, polling=100)
    await page.wait_for_function(SHOWS, arg="50.0%", timeout=timeout * 1000, polling=100)


async def tour(url: str, pid: int, args) -> None:
    """One user goes through every zoo model; RSS after each (memory left behind by a model shows here)."""
    from playwright.async_api import async_playwright

    from prune_core.zoo import EMBEDDED

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        session = await open_session(browser, url, 0, "tiny-shakespeare-gpt", 0, args.timeout)
        print("one session going through the zoo; server RSS after each model's first results:")
        print(f"  {'tiny-shakespeare-gpt':<22}{process_rss(pid) / 1e9:6.2f} GB")
        for model in list(EMBEDDED)[1:] + ["tiny-shakespeare-gpt"]:
            start = time.perf_counter()
            await pick_model(session.page, model, args.timeout)
            print(f"  {model:<22}{process_rss(pid) / 1e9:6.2f} GB   ({time.perf_counter() - start:.0f} s)", flush=True)
        errors = await session.page.evaluate(PROBLEMS)
        await asyncio.sleep(args.settle)
        print(f"  after {args.settle:.0f} s idle: {process_rss(pid) / 1e9:.2f} GB; error boxes {errors}")
        await browser.close()


async def open_session(browser, url: str, index: int, model: str, seed: int, timeout: float) -> Session:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_selector("text=Weights removed", timeout=timeout * 1000)
    if model != "tiny-shakespeare-gpt":  # the picker's default
        await pick_model(page, model, timeout)
    session = Session(index, page, seed)
    if seed:
        await set_seed(page, seed)
    await page.wait_for_function(IDLE, timeout=timeout * 1000, polling=100)
    await page.wait_for_function(SHOWS, arg="50.0%", timeout=timeout * 1000, polling=100)
    await page.get_by_role("slider").first.focus()
    return session


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_pids() -> list[int]:
    """The Chromium processes this bench started (descendants of this process named chrom*)."""
    parent, name = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    head, tail = f.read().rsplit(")", 1)
            except OSError:
                continue
            parent[int(entry)], name[int(entry)] = int(tail.split()[1]), head.split("(", 1)[1]

    def ours(pid: int) -> bool:
        while pid > 1:
            if pid == os.getpid():
                return True
            pid = parent.get(pid, 0)
        return False
    return [pid for pid in parent if "chrom" in name[pid] and ours(pid)]


def cpu_split(server: int) -> dict[str, float]:
    """CPU seconds so far of the server and of the browsers (the per-move difference is what counts)."""
    return {"server": cpu_seconds(server), "browsers": sum(cpu_seconds(p) for p in browser_pids())}


async def sample_rss(pid: int, out: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        out.append(process_rss(pid))
        await asyncio.sleep(0.2)


async def drive(url: str, pid: int, args) -> None:
    from playwright.async_api import async_playwright

    plan = plan_moves(args.moves, 0, 1000)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        t0 = time.perf_counter()
        sessions = []
        for i in range(args.sessions):  # one after the other: the first loads the model for all
            sessions.append(await open_session(browser, url, i, args.model, 0 if args.shared else i, args.timeout))
        print(f"{args.sessions} sessions open and showing results in {time.perf_counter() - t0:.1f} s")
        rss_before, samples, stop = process_rss(pid), [], asyncio.Event()
        sampler = asyncio.create_task(sample_rss(pid, samples, stop))
        cpu_before, after_move = cpu_split(pid), []
        for m, (kind, sparsity, base_seed) in enumerate(plan):
            await asyncio.gather(*(move(s, kind, sparsity, base_seed + (0 if args.shared else s.index),
                                        args.timeout, args.expected) for s in sessions))
            after_move.append(process_rss(pid))
            if args.progress and (m + 1) % args.progress == 0:
                print(f"  move {m + 1}: RSS {after_move[-1] / 1e9:.2f} GB", flush=True)
        cpu = {k: v - cpu_before[k] for k, v in cpu_split(pid).items()}
        await asyncio.sleep(args.settle)
        stop.set()
        await sampler
        rss_after = process_rss(pid)
        await browser.close()
    report(sessions, plan, rss_before, max(samples + [rss_before]), after_move, rss_after, cpu, args)


def report(sessions, plan, rss_before, rss_peak, after_move, rss_after, cpu, args) -> None:
    shown = [t for s in sessions for t in s.shown]
    done = [t for s in sessions for t in s.done]
    errors = [e for s in sessions for e in s.errors]
    wrong = [w for s in sessions for w in s.wrong]
    print(f"model {args.model}, {args.sessions} sessions x {len(plan)} moves "
          f"({'same seed: identical settings shared' if args.shared else 'a seed per session: no two alike'}), "
          f"server settings {args.server_env or 'default'}; {args.cores}")
    for name, xs in (("new sparsity on screen", shown), ("all results, app idle", done)):
        if xs:
            print(f"  {name:<24} p50 {statistics.median(xs):6.2f} s   max {max(xs):6.2f} s   (n={len(xs)})")
    n = len(sessions) * len(plan)
    print(f"  CPU during the moves: server {cpu['server']:.1f} s, browsers {cpu['browsers']:.1f} s; per session and "
          f"move {cpu['server'] / n:.2f} s + {cpu['browsers'] / n:.2f} s, so one round of {len(sessions)} moves needs "
          f"at least {(cpu['server'] + cpu['browsers']) / len(plan) / args.total_cores:.1f} s "
          f"on this machine's {args.total_cores} cores")
    checked = "checked against in-process runs" if args.expected is not None else "quality not checked (--verify)"
    print(f"  errors {len(errors)}; wrong figures {len(wrong)} ({checked})")
    for line in (errors + wrong)[:10]:
        print("   ", line)
    print(f"  server RSS: before moves {rss_before / 1e9:.2f} GB, peak {rss_peak / 1e9:.2f} GB, "
          f"after {args.settle:.0f} s idle {rss_after / 1e9:.2f} GB")
    if len(after_move) > 20:
        base = after_move[19]
        print(f"  RSS after move 20 {base / 1e9:.3f} GB, after move {len(after_move)} {after_move[-1] / 1e9:.3f} GB: "
              f"growth {100 * (after_move[-1] - base) / base:+.1f} %")


def split_cores(spec: str) -> set[int]:
    """The server's cores from "0,1"; this process (and the browsers it starts) keeps the others."""
    mine = os.sched_getaffinity(0)
    server = {int(c) for c in spec.split(",")}
    if not server <= mine or not mine - server:
        raise SystemExit(f"--server-cpus {spec}: needs cores of {sorted(mine)} and at least one left for "
                         "the browsers")
    os.sched_setaffinity(0, mine - server)
    return server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="tiny-shakespeare-gpt")
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--moves", type=int, default=5)
    ap.add_argument("--shared", action="store_true", help="all sessions use seed 0 (identical settings)")
    ap.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None,
                    help="check the quality figure (default: on for models under 50 M parameters)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds a move may take before it counts as an error")
    ap.add_argument("--settle", type=float, default=30, help="idle seconds before the last RSS reading")
    ap.add_argument("--progress", type=int, default=0, help="print RSS every N moves")
    ap.add_argument("--max-jobs", type=int, help="PRUNESCOPE_MAX_JOBS for the server")
    ap.add_argument("--budget", help="PRUNESCOPE_MEMORY_BUDGET for the server, e.g. 3G")
    ap.add_argument("--arena-max", help="MALLOC_ARENA_MAX for the server (default: glibc's)")
    ap.add_argument("--log", help="keep the server's output in this file")
    ap.add_argument("--tour", action="store_true", help="instead: one session goes through every zoo model")
    ap.add_argument("--server-cpus", help="cores for the server only, e.g. 0,1; the browsers get the others")
    args = ap.parse_args()
    args.total_cores = len(os.sched_getaffinity(0))
    server_cpus = split_cores(args.server_cpus) if args.server_cpus else None
    from prune_core.zoo import BIG_MODEL, embedded_cards

    params = {c["name"]: c["params"] for c in embedded_cards()}.get(args.model, 0)
    verify = params < BIG_MODEL if args.verify is None else args.verify
    plan = plan_moves(args.moves, 0, 1)
    args.expected = expected_quality(args.model, {50} | {s for _, s, _ in plan}) if verify and not args.tour else None
    env = {key: str(value) for key, value in (("PRUNESCOPE_MAX_JOBS", args.max_jobs),
                                              ("PRUNESCOPE_MEMORY_BUDGET", args.budget),
                                              ("MALLOC_ARENA_MAX", args.arena_max)) if value not in (None, "")}
    args.server_env = env
    args.cores = (f"server on cores {sorted(server_cpus)}, browsers on {sorted(os.sched_getaffinity(0))}"
                  if server_cpus else f"server and browsers share {len(os.sched_getaffinity(0))} cores")
    with streamlit_server(timeout=180, env=env, log_path=args.log, cpus=server_cpus) as (url, proc):
        asyncio.run(tour(url, proc.pid, args) if args.tour else drive(url, proc.pid, args))
        if proc.poll() is not None:
            print(f"  the server DIED (exit {proc.returncode})")


if __name__ == "__main__":
    main()
