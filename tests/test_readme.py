"""The README stays a short guide for users and contributors, and every measured figure it points to
lives in docs/benchmarks.md with its date and commit. Fast: reads files, loads no model."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
MAX_LINES = 300
FIRST_COMMANDS = ["bash scripts/run.sh", "bash scripts/test.sh"]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # [text](target) and ![alt](target)
DATE = re.compile(r"\b20\d\d-[01]\d-[0-3]\d\b")
COMMIT = re.compile(r"commit\s+`([0-9a-f]{7,40})`")


def _code_blocks(text: str) -> list[list[str]]:
    """The lines of every fenced code block, in order."""
    return [block.splitlines() for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)]


def _commands(lines: list[str]) -> list[str]:
    """A block's commands: each line without its trailing comment, blank lines left out."""
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def _sections(text: str, level: str) -> list[tuple[str, str]]:
    """(heading, body) of every heading of exactly `level` (e.g. '##'), the body up to the next such."""
    parts = re.split(rf"^{level} (?!#)(.*)$", text, flags=re.M)
    return list(zip(parts[1::2], parts[2::2]))


def _full_git_history() -> bool:
    """Inside a git checkout with its whole history (a shallow clone lacks the older commits)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--is-inside-work-tree", "--is-shallow-repository"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    except OSError:  # no git installed
        return False
    return out == ["true", "false"]


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; keep it to {MAX_LINES}"


def test_first_code_block_is_install_and_test():
    blocks = _code_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "README.md has no code block"
    assert _commands(blocks[0]) == FIRST_COMMANDS
    for script in FIRST_COMMANDS:
        assert (ROOT / script.split()[-1]).is_file(), script


@pytest.mark.parametrize("doc", [README, BENCHMARKS], ids=lambda p: p.name)
def test_relative_links_point_to_files(doc: Path):
    text = doc.read_text(encoding="utf-8")
    targets = [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t)]
    assert targets, f"{doc.name} links to nothing: the link pattern no longer matches"
    missing = [t for t in targets if not (doc.parent / t.split("#", 1)[0]).exists()]
    assert not missing, f"{doc.name} links to missing files: {missing}"


def test_readme_links_to_benchmarks():
    assert "(docs/benchmarks.md)" in README.read_text(encoding="utf-8")


def test_every_benchmark_entry_is_dated_with_a_commit():
    text = BENCHMARKS.read_text(encoding="utf-8")
    benchmarks = _sections(text, "##")
    assert benchmarks, "docs/benchmarks.md has no sections"
    for heading, body in benchmarks:
        assert DATE.search(body) and COMMIT.search(body), f"section '{heading}' has no date or no commit"
        for entry, _ in _sections(body, "###"):
            assert DATE.search(entry) and COMMIT.search(entry), f"entry '{entry}' names no date or no commit"


def test_benchmark_commits_exist():
    if not _full_git_history():
        pytest.skip("not inside a git checkout with its whole history")
    commits = set(COMMIT.findall(BENCHMARKS.read_text(encoding="utf-8")))
    assert commits
    unknown = [c for c in sorted(commits)
               if subprocess.run(["git", "cat-file", "-e", f"{c}^{{commit}}"], cwd=ROOT).returncode != 0]
    assert not unknown, f"docs/benchmarks.md names commits git does not know: {unknown}"
