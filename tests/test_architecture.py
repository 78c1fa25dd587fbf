"""The core's skeleton: prune_core's import graph (top-level *and* function-level imports) has no cycle,
and prune_core never imports streamlit (it is the library the pages, the CLI and the benches share).
Sizes stay readable: no prune_core file over 400 lines, no function over 60 lines in the app's code.

An import inside a function hides a cycle from Python but not from this test. The only imports left out
are those marked `# optional:` (a heavy dependency loaded only when used: Ray, CUDA paths) and those under
`if TYPE_CHECKING:` (type hints only, never executed).
"""
from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "prune_core"
ROOT = CORE.parent
MAX_FUNCTION_LINES = 60  # from the `def` line to the body's last line (decorators not counted)


def _module(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Absolute names an `from X import a, b` may refer to (X itself, and X.a when a is a submodule)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def import_graph(root: Path = CORE) -> dict[str, set[str]]:
    """module -> modules of the package `root` it imports (anywhere in the file, function bodies
    included), minus optional / type-only ones."""
    files = {_module(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        skip = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skip:
                continue
            if "# optional:" in lines[node.lineno - 1]:
                continue
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else _resolve(module, path.name == "__init__.py", node))
            graph[module].update(n for n in names if n in files and n != module)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_graph_sees_function_level_imports_and_cycles(tmp_path):
    """The checker on a package made here: a cycle hidden by an import inside a function is found;
    one marked `# optional:` or under TYPE_CHECKING is not counted."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("def f():\n    from .high import g  # hidden\n")
    (pkg / "high.py").write_text("from . import low\nfrom .low import f\n")
    (pkg / "opt.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import high\n"
                                "def h():\n    from . import high  # optional: heavy\n")
    (pkg / "base.py").write_text("from .opt import h\n")
    graph = import_graph(pkg)
    assert "pkg.high" in graph["pkg.low"] and "pkg.low" in graph["pkg.high"] and graph["pkg.opt"] == set()
    assert _cycles(graph) == [["pkg.high", "pkg.low"]]
    assert "prune_core.errors" in import_graph()["prune_core.config"]


def test_no_import_cycle_in_prune_core():
    cycles = _cycles(import_graph())
    assert not cycles, "import cycles among prune_core modules: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_core_never_imports_streamlit():
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "streamlit"]
    assert not offenders, offenders


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_inside_functions_are_only_optional_ones():
    """An import inside a function hides a dependency (that is how the old cycle hid); the only ones
    left load optional heavy pieces (Ray, CUDA kernels) and say so with `# optional:`."""
    hidden = []
    for path in sorted(CORE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for fn in ast.walk(ast.parse(source)):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                hidden += [f"{path.relative_to(CORE.parent)}:{node.lineno}" for node in ast.walk(fn)
                           if isinstance(node, (ast.Import, ast.ImportFrom))
                           and "# optional:" not in lines[node.lineno - 1]]
    assert not hidden, "imports inside functions without '# optional:': " + ", ".join(hidden)


def test_no_core_file_over_400_lines():
    long = {str(p.relative_to(CORE.parent)): n for p in CORE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long


def long_functions(root: Path, paths: list[Path], limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """'file::Outer.name' -> lines, for every function (async and nested ones too) longer than `limit`."""
    found: dict[str, int] = {}

    def visit(node: ast.AST, file: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                lines = (child.end_lineno or child.lineno) - child.lineno + 1
                if not isinstance(child, ast.ClassDef) and lines > limit:
                    found[f"{file}::{name}"] = lines
                visit(child, file, name + ".")
            else:
                visit(child, file, prefix)

    for path in paths:
        visit(ast.parse(path.read_text(encoding="utf-8")), path.relative_to(root).as_posix(), "")
    return found


def _source(head: str, lines: int, indent: str = "") -> str:
    """A function of exactly `lines` lines: its `head` line, then assignments."""
    return f"{indent}{head}\n" + "".join(f"{indent}    x{i} = {i}\n" for i in range(lines - 1))


def test_long_functions_are_found_nested_and_async_with_qualified_names(tmp_path):
    (tmp_path / "m.py").write_text(_source("def fits():", 60) + "class C:\n" + _source("def method(self):", 61, "    ")
                                   + "def outer():\n" + _source("async def inner():", 59, "    ") + "    return inner\n")
    assert long_functions(tmp_path, [tmp_path / "m.py"]) == {"m.py::C.method": 61, "m.py::outer": 61}
    (tmp_path / "m.py").write_text("def outer():\n" + _source("async def inner():", 61, "    "))
    assert long_functions(tmp_path, [tmp_path / "m.py"]) == {"m.py::outer": 62, "m.py::outer.inner": 61}


def test_no_function_over_60_lines():
    paths = sorted(CORE.rglob("*.py")) + sorted((ROOT / "pages").rglob("*.py")) + [ROOT / "app.py"]
    found = long_functions(ROOT, paths)
    assert not found, f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps): {found}"


SINGLETONS = {"job_gate", "shared_cache", "warm_model"}  # the only st.cache_resource: the cache, the gate, a thread


def _streamlit_caching(path: Path) -> list[tuple[str, str]]:
    """(what, where) for every use of Streamlit's own caches in one file: `cache_data` anywhere, and
    `cache_resource` anywhere but as the decorator of a process singleton."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name in SINGLETONS:
            allowed |= {id(d.func if isinstance(d, ast.Call) else d) for d in fn.decorator_list}
    return [(node.attr, f"{path.name}:{node.lineno}") for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in ("cache_data", "cache_resource")
            and not (node.attr == "cache_resource" and id(node) in allowed)]


def test_pages_keep_results_only_in_the_shared_cache():
    """Results go through pages.ui.caches.shared_cache (bounded by bytes, in the memory budget, computed
    once for every session); Streamlit's caches bound entries by count, outside the budget."""
    files = [CORE.parent / "app.py", *sorted((CORE.parent / "pages").rglob("*.py"))]
    found = [use for path in files for use in _streamlit_caching(path)]
    assert not found, f"Streamlit caches outside the process singletons {sorted(SINGLETONS)}: {found}"


def test_the_streamlit_cache_finder_finds_them(tmp_path):
    page = tmp_path / "page.py"
    page.write_text("import streamlit as st\n@st.cache_resource\ndef shared_cache(): ...\n"
                    "@st.cache_resource(max_entries=3)\ndef masks(): ...\n@st.cache_data\ndef frame(): ...\n"
                    "st.cache_data.clear()\n")
    assert sorted(_streamlit_caching(page), key=lambda use: use[1]) == [
        ("cache_resource", "page.py:4"), ("cache_data", "page.py:6"), ("cache_data", "page.py:8")]
