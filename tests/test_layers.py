"""The project's imports, read with ast (nothing is imported): data flows one way (docs/architecture.md), so no
layer imports one above it, and no module imports itself through others. Imports inside functions count too:
a lazy import is still a dependency. A `__main__.py` is a command line and may import across."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("models", "avatar", "tracking", "viewer", "scripts", "bench")
# Each layer and the layers below it that it may import (its own modules it always may); a module is in the
# layer its name starts with, the longest that fits (viewer.runs.reenact: "viewer.runs").
SPLATTED = {"models", "avatar.splatting", "avatar"}
MAY_IMPORT = {
    "models": set(),
    "avatar.splatting": {"models"},  # Gaussians, PLY files, rasterizers
    "avatar": {"models", "avatar.splatting"},  # the avatar kinds
    "tracking": {"models"},  # it sees only the head model an avatar exposes
    "viewer.runs": SPLATTED | {"tracking"},  # the runs without a window
    "viewer": SPLATTED | {"tracking", "viewer.runs"},  # the window
    "launch": SPLATTED | {"tracking", "viewer.runs", "viewer"},
    "scripts": SPLATTED | {"tracking"},  # the demo's builder: nothing imports it but its tests
    "bench": SPLATTED | {"tracking", "viewer.runs", "viewer", "tests.fake_experiment"},
}
# The window's own modules: the only ones that may import dearpygui. The runs, the drive state, the render
# thread and what else a front-end needs have no display to import it on.
WINDOW_MODULES = {"viewer.app", "viewer.window", "viewer.panel", "viewer.display", "viewer.eigen_sliders",
                  "viewer.face_sliders"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    files = [ROOT / "launch.py"] + [path for folder in FOLDERS for path in (ROOT / folder).rglob("*.py")]
    return {module_name(path): path for path in files} | {"tests.fake_experiment": ROOT / "tests/fake_experiment.py"}


def layer_of(name: str) -> str | None:
    layers = [layer for layer in MAY_IMPORT if name == layer or name.startswith(layer + ".")]
    return max(layers, key=len, default=None)


def imports_of(path: Path, modules: dict[str, Path], outside: bool = False) -> set[str]:
    """The project modules `path` imports: `from a.b import c` is a.b.c where that is a module, else a.b. With
    `outside`, the top-level names of what else it imports (numpy, dearpygui)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                     for alias in node.names]
        else:
            continue
        found |= {name.split(".")[0] if outside else name for name in names if (name in modules) != outside}
    return found


def upward_imports(modules: dict[str, Path]) -> list[str]:
    """'a imports b' for each import of a module from a layer `a`'s may not import."""
    found = []
    for name, path in modules.items():
        layer = layer_of(name)
        if layer is None or path.name == "__main__.py":
            continue
        allowed = MAY_IMPORT[layer] | {layer}
        found += [f"{name} imports {target}" for target in sorted(imports_of(path, modules))
                  if layer_of(target) not in allowed and target not in allowed]
    return found


def test_no_layer_imports_one_above_it():
    assert upward_imports(project_modules()) == []


def test_a_planted_upward_import_is_found(tmp_path):
    """The check above fails where a lower layer reaches up: the head model importing the runs' settings, the
    runs importing the window, the tracker importing an avatar, the rasterizer an avatar kind."""
    modules = project_modules()
    planted = {"models.camera": "from viewer.runs.settings import Settings\n",
               "viewer.runs.reenact": "def later():\n    from viewer.app import ViewerApp\n",
               "tracking.tracker": "import avatar.rigged\n",
               "avatar.splatting.rasterizer.cpu": "from avatar.contract import Avatar\n"}
    for name, text in planted.items():
        (tmp_path / f"{name}.py").write_text(text)
    found = sorted(upward_imports(modules | {name: tmp_path / f"{name}.py" for name in planted}))
    assert found == ["avatar.splatting.rasterizer.cpu imports avatar.contract",
                     "models.camera imports viewer.runs.settings", "tracking.tracker imports avatar.rigged",
                     "viewer.runs.reenact imports viewer.app"]


def test_only_the_window_imports_dearpygui():
    modules = project_modules()
    importing = {name for name, path in modules.items() if "dearpygui" in imports_of(path, modules, outside=True)}
    assert importing <= WINDOW_MODULES, sorted(importing - WINDOW_MODULES)
    assert "viewer.app" in importing  # the check reads third-party imports at all


def test_no_import_cycle():
    modules = project_modules()
    graph = {name: imports_of(path, modules) - {name} for name, path in modules.items()}
    cycles, state = [], {}  # state: 1 on the current path, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_walk_sees_imports_at_every_depth():
    """The checks above would pass on a walk that found nothing: it finds module-level and lazy imports, and
    `from package import module`."""
    modules = project_modules()
    assert imports_of(ROOT / "viewer" / "runs" / "driven_video.py", modules) >= {
        "tracking.sources", "tracking.offline", "tracking.tracker"}  # the last one lazy
    assert "avatar.gem.avatar" in imports_of(ROOT / "avatar" / "__init__.py", modules)
    assert {"bench.report", "tests.fake_experiment"} <= {name for path in (ROOT / "bench").glob("*.py")
                                                         for name in imports_of(path, modules)}
