"""The shape of ``src/``: layers that point one way, small functions and modules, no hidden imports.

Read as text (``ast``), nothing imported: what the pipeline redesign promised (issue 27), kept.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "fabricator"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 400
#: modules allowed past the module limit, and why
LARGE_MODULES = {"fabricator.testing.fake_server": "a whole OpenAI-compatible server for tests"}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = modules()


def imported(name: str, path: Path, node: ast.ImportFrom | ast.Import) -> Iterator[str]:
    """The project's modules that ``node`` imports."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        if node.level:
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            base = package[: len(package) - node.level + 1]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
    for target in targets:
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target.startswith(PACKAGE) and target != name:
            yield target


def top_level_imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        edges = graph.setdefault(name, set())
        for node in tree.body:
            if isinstance(node, ast.If):  # ``if TYPE_CHECKING:`` imports do not run
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(t for t in imported(name, path, node) if not name.startswith(t + "."))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert cycles(top_level_imports()) == []


#: the layers, highest first: a module may import its own layer or lower ones, never a higher one.
#: A module belongs to the layer of the longest prefix naming it; every module must have one.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("app", ("fabricator.app",)),
    ("public face", ("fabricator", "fabricator.generator", "fabricator.testing")),
    ("pipeline", ("fabricator.pipeline", "fabricator.report")),
    (
        "stages",
        (
            "fabricator.execution",
            "fabricator.formats",
            "fabricator.samplers",
            "fabricator.prompts",
            "fabricator.scoring",
            "fabricator.evaluation",
            "fabricator.options",
            "fabricator.attributes",
            "fabricator.judge_criteria",
            "fabricator.near_duplicates",
        ),
    ),
    ("models and parsing", ("fabricator.llms", "fabricator.parsing", "fabricator.dataset_transformations")),
    (
        "neutral utilities",
        (
            "fabricator.plugins",
            "fabricator.tables",
            "fabricator.redact",
            "fabricator.markdown",
            "fabricator.progress",
            "fabricator._sync",
        ),
    ),
    ("errors", ("fabricator.errors",)),
]


def layer_of(name: str) -> int | None:
    """The rank of ``name``'s layer (0 is the lowest), or ``None`` when no layer names it."""
    best: tuple[int, int] | None = None  # (prefix length, rank)
    for rank, (_, prefixes) in enumerate(reversed(LAYERS)):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    return None if best is None else best[1]


def test_every_module_has_a_layer():
    assert [name for name in MODULES if layer_of(name) is None] == []


def test_imports_point_down_the_layers():
    """app → pipeline → stages → models and parsing → utilities → errors: the library never imports
    the app, and a lower layer never reaches up."""
    names = [layer for layer, _ in reversed(LAYERS)]
    upward = []
    for name, targets in top_level_imports().items():
        for target in targets:
            low, high = layer_of(name), layer_of(target)
            if low is not None and high is not None and high > low:
                upward.append(f"{name} ({names[low]}) imports {target} ({names[high]})")
    assert sorted(upward) == []


def test_no_function_local_imports_of_the_project():
    """Local imports hide circles; only optional third-party dependencies may load late."""
    local = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and any(imported(name, path, node)):
                    local.append(f"{name}:{node.lineno}")
    assert sorted(set(local)) == []


def test_no_function_over_80_lines():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert long == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES or name in LARGE_MODULES, f"{name}: {lines} lines"


def test_tests_and_benchmarks_use_public_names():
    private = []
    root = SRC.parent
    for folder in ("tests", "bench"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                    parts = (node.module or "").split(".")
                    names = [alias.name for alias in node.names]
                    if any(p.startswith("_") for p in parts) or any(n.startswith("_") for n in names):
                        private.append(f"{path.relative_to(root)}:{node.lineno}")
    assert private == []
