"""The package's stages import one way: raw formats -> tables -> tensor -> learning -> evidence -> runs.

Every import is read from the source (module level and inside functions),
so a deferred import cannot hide a forbidden edge.
"""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "restasmr_jax"
ROOT_MODULES = {"config", "storage", "manifest"}
# Each stage and the stages (besides the root modules) it may import.
ALLOWED = {
    "io": set(),
    "ingest": {"io"},
    "features": {"io"},
    "tensor": {"io", "ingest", "features"},
    "learning": {"io", "ingest", "features", "tensor"},
    "evidence": {"io", "ingest", "features", "tensor"},  # never learning: it scores any model's arrays
    "synth": {"io"},
    "validation": {"io", "ingest", "features", "tensor", "learning", "evidence", "synth"},
    "bids": {"io", "ingest"},
    "runs": {"io", "ingest", "features", "tensor", "learning", "evidence", "synth", "validation", "bids"},
}
JAX_FAMILY = {"jax", "jaxlib", "flax", "optax", "orbax"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, absolute (relative imports resolved), including names imported from packages."""
    found = set()
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = defaultdict(set)
    for name, path in modules.items():
        for target in imports(path):
            parts = target.split(".")
            # the longest prefix that is one of our modules (names imported from a module are not modules)
            prefixes = (".".join(parts[:k]) for k in range(len(parts), 0, -1))
            match = next((prefix for prefix in prefixes if prefix in modules), None)
            ancestor = match is not None and name.startswith(match + ".")  # a module's own package
            if target.startswith("restasmr_jax") and match not in (None, name, "restasmr_jax") and not ancestor:
                edges[name].add(match)
            elif not target.startswith("restasmr_jax"):
                edges[name].add(target)
    return {name: edges[name] for name in modules}


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] not in ROOT_MODULES else None


def test_stages_import_only_earlier_stages(graph):
    wrong = []
    for module, targets in graph.items():
        stage = stage_of(module)
        if stage is None:  # the root modules import no stage at all
            wrong += [(module, t) for t in targets if t.startswith("restasmr_jax.") and stage_of(t)]
            continue
        for target in targets:
            other = stage_of(target) if target.startswith("restasmr_jax.") else None
            if other is not None and other != stage and other not in ALLOWED[stage]:
                wrong.append((module, target))
    assert not wrong, "imports against the stage order: " + ", ".join(f"{a} -> {b}" for a, b in sorted(wrong))


def test_every_stage_folder_has_a_rule(graph):
    stages = {stage_of(m) for m in graph} - {None}
    assert stages == set(ALLOWED), f"stages without an import rule: {stages - set(ALLOWED)}"


def test_formats_know_no_jax_and_evidence_no_training(graph):
    io_jax = [(m, t) for m, ts in graph.items() if stage_of(m) == "io" for t in ts if t.split(".")[0] in JAX_FAMILY]
    assert not io_jax, f"io/ imports JAX: {io_jax}"
    evidence_learning = [
        (m, t)
        for m, ts in graph.items()
        if stage_of(m) == "evidence"
        for t in ts
        if t.startswith("restasmr_jax.learning") or t.split(".")[0] in {"flax", "optax", "orbax"}
    ]
    assert not evidence_learning, f"evidence/ imports training code: {evidence_learning}"


def test_nothing_imports_the_entry_points(graph):
    outside = [(m, t) for m, ts in graph.items() for t in ts if t.split(".")[0] in {"experiments", "bench", "tests"}]
    assert not outside, f"library modules import entry points or tests: {outside}"


def test_no_import_cycle(graph):
    internal = {m: {t for t in ts if t in graph} for m, ts in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(internal[module]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(internal):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_checker_sees_deferred_imports(graph):
    # learning/xgb.py imports xgboost only inside the functions that train or score
    assert "xgboost" in imports(PACKAGE / "learning" / "xgb.py")
    assert "restasmr_jax.io.presentation" in graph["restasmr_jax.ingest.labels"]
