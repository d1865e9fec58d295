"""app/ by concern: its sub-packages import downwards only, and hold no command's state."""

import ast
from pathlib import Path

import fedbench.app
from tests.test_layers import find_cycle, graph_closure, import_graph

APP = Path(fedbench.app.__file__).resolve().parent
#: app/'s sub-packages, lowest first: each imports only those before it (and itself).
LAYERS = ("config", "launchers", "job", "preflight", "sweep", "commands")
#: Modules that may keep state of their own: a launcher's child process keeps its
#: watchdog thread and whether a job runs (one per process, never a command's).
PROCESS_STATE = {"launchers/children.py"}


def _layer(module: str) -> int | None:
    """The layer of an ``fedbench.app.<package>...`` module (``None``: not in one)."""
    parts = module.split(".")
    if parts[:2] != ["fedbench", "app"] or len(parts) < 3 or parts[2] not in LAYERS:
        return None
    return LAYERS.index(parts[2])


def test_app_is_laid_out_by_concern():
    packages = {p.name for p in APP.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert packages == set(LAYERS)
    # Outside the sub-packages: only the console scripts' quick entry point.
    assert {p.name for p in APP.glob("*.py")} == {"__init__.py", "entry.py"}


def test_app_sub_packages_import_downwards_only():
    graph = import_graph()
    upward = {
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _layer(module) is not None
        for target in targets
        if _layer(target) is not None and _layer(target) > _layer(module)
    }
    assert upward == set()
    # The check sees what it must: the commands import the sweep and the job.
    assert "fedbench.app.sweep.plugin" in graph["fedbench.app.commands.cli"]
    assert "fedbench.app.job.task" in graph["fedbench.app.commands.cli"]
    assert _layer("fedbench.app.sweep.sweeper") > _layer("fedbench.app.job.task")


def test_app_has_no_import_circle_and_the_sweep_does_not_run_jobs():
    app = {m: t for m, t in import_graph().items() if m.startswith(("fedbench.app", "hydra_"))}
    assert find_cycle(app) is None
    # The sweeper launches jobs; what they run (TFF, training) is the job's own business.
    assert "fedbench.app.job.experiment" not in graph_closure("fedbench.app.sweep.sweeper")
    assert "fedbench.app.sweep.sweeper" in graph_closure("hydra_plugins.fedbench_sweeper")


def _module_state(tree: ast.Module) -> list[str]:
    """Names a module rebinds at run time (``global``) or binds to a mutable value at import."""
    found = [
        f"global {name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Global)
        for name in node.names
    ]
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        value = getattr(node, "value", None)
        mutable = isinstance(value, (ast.Dict, ast.List, ast.Set, ast.Call)) and not (
            isinstance(value, ast.Call)
            and ast.unparse(value.func)
            in {"logging.getLogger", "frozenset", "re.compile", "TypeVar"}
        )
        for target in targets:
            if isinstance(target, ast.Name) and mutable and not target.id.isupper():
                found.append(target.id)
    return found


def test_app_keeps_no_command_state_in_modules():
    kept = {
        f"{path.relative_to(APP)}: {name}"
        for path in APP.rglob("*.py")
        if str(path.relative_to(APP)) not in PROCESS_STATE
        for name in _module_state(ast.parse(path.read_text()))
    }
    assert kept == set()
    # The scan sees what it must.
    assert _module_state(ast.parse("_prepared: dict = {}\nLOG = 1")) == ["_prepared"]
    assert _module_state(ast.parse("def f():\n    global _x\n    _x = 1")) == ["global _x"]
    assert _module_state(ast.parse("log = logging.getLogger(__name__)")) == []
