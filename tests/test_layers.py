"""The layers point down: the numpy library loads neither Hydra nor TensorFlow; no import circle."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import fedbench

HEAVY = ("hydra", "omegaconf", "tensorflow", "tensorflow_federated")
PACKAGE = Path(fedbench.__file__).resolve().parent
#: The packages whose imports the graph holds: the library and the analysis beside it.
PACKAGES = (PACKAGE, PACKAGE.parent / "analysis")


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.subprocess
def test_the_library_loads_neither_hydra_nor_tensorflow():
    assert _loaded_after("import fedbench, fedbench.partitioning, fedbench.heterogeneity") == []


@pytest.mark.subprocess
def test_the_run_spec_and_the_data_need_no_hydra_nor_tensorflow():
    code = "from fedbench.spec import RunSpec\nfrom fedbench import clients, data\nRunSpec.create()"
    assert _loaded_after(code) == []


@pytest.mark.subprocess
def test_the_partition_command_does_not_load_tensorflow(tmp_path):
    code = (
        "import sys\nfrom fedbench.app.commands.cli import partition_main\n"
        f"sys.argv = ['fedbench-partition', 'results_dir={tmp_path}']\n"
        "try:\n    partition_main()\nexcept SystemExit:\n    pass"
    )
    loaded = _loaded_after(code)
    assert "hydra" in loaded and "tensorflow" not in loaded
    assert list((tmp_path / "partitions").glob("*.parquet"))


@pytest.mark.subprocess
def test_fedbench_partition_stays_the_function_after_importing_the_module():
    code = (
        "import fedbench.partition\nimport fedbench\n"
        "assert callable(fedbench.partition), fedbench.partition\n"
        "from fedbench import partition\nassert partition is fedbench.partitioning.partition"
    )
    assert _loaded_after(code) == []


def _module_name(path: Path, root: Path) -> str:
    """The name ``path`` is imported under (Hydra's plugins live in ``hydra_plugins``)."""
    relative = path.relative_to(root.parent).with_suffix("")
    parts = list(relative.parts)
    if "hydra_plugins" in parts:
        parts = parts[parts.index("hydra_plugins") :]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(packages: tuple[Path, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the packages' modules it imports, at module level or inside functions.

    A function-level import counts as an arrow as a module-level one does: it closes a
    circle all the same, only later. ``from a.b import c`` points at ``a.b.c`` when that
    is a module, else at ``a.b``; an import of a module outside ``packages`` is left out,
    and so is the implicit import of a module's parent packages (their ``__init__``
    re-exports their own modules).
    """
    files = {_module_name(p, root): p for root in packages for p in root.rglob("*.py")}

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {known(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in files else known(base))
        graph[name] = targets - {None, name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports in ``graph`` (its modules, the first repeated at the end), if any."""
    state: dict[str, str] = {}  # "open" while on the current path, then "done"
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_the_package_imports_without_a_circle():
    graph = import_graph()
    # The graph sees what it must: a module-level import and one inside a function.
    assert "fedbench.app.sweep.plugin" in graph["fedbench.app.commands.cli"]
    assert "fedbench.app.job.experiment" in graph["fedbench.app.commands.cli"]  # imported in _train
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_find_cycle_finds_a_circle_through_a_function_level_import():
    # a -> b at module level, b -> a inside a function: the circle the test above forbids.
    assert find_cycle({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_holds_a_function_level_import_that_closes_a_circle(tmp_path):
    # The shape analysis/report/layouts had: the package imports its layouts inside a
    # function because each layout imports the package back.
    package = tmp_path / "shapes"
    package.mkdir()
    (package / "__init__.py").write_text(
        "class Layout: ...\n\n\ndef _layouts():\n    from shapes import plain\n\n"
        "    return [plain.LAYOUT]\n"
    )
    (package / "plain.py").write_text("from shapes import Layout\n\nLAYOUT = Layout()\n")
    graph = import_graph((package,))
    assert graph == {"shapes": {"shapes.plain"}, "shapes.plain": {"shapes"}}
    assert find_cycle(graph) == ["shapes", "shapes.plain", "shapes"]


def test_the_graph_holds_the_analysis_package_too():
    graph = import_graph()
    assert "analysis.report.layouts.niid_bench" in graph["analysis.report.layouts"]
    assert "fedbench.results" in graph["analysis.load"]


def test_the_sweeper_does_not_import_the_job_runner():
    # The sweeper launches jobs; what they run (TFF, training) is the job's own business.
    assert "fedbench.app.job.experiment" not in graph_closure("fedbench.app.sweep.sweeper")


def graph_closure(module: str) -> set[str]:
    """Every module of the package that importing ``module`` can import, directly or not."""
    graph, seen, todo = import_graph(), set(), [module]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen
