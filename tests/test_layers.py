"""The project's imports, read with ast (nothing is imported): data flows one way (docs/architecture.md), so no
package imports one above it, and no module imports itself through others. Imports inside functions count too:
a lazy import is still a dependency. A `__main__.py` is a command line and may import across."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "avatar", "tracking", "viewer")
MAY_NOT_IMPORT = {  # the flow: models -> avatar, tracking -> viewer -> launch.py
    "models": {"avatar", "tracking", "viewer"},
    "avatar": {"tracking", "viewer"},
    "tracking": {"avatar", "viewer"},
    "viewer": set(),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    files = [ROOT / "launch.py"] + [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    return {module_name(path): path for path in files}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `path` imports: `from a.b import c` is a.b.c where that is a module, else a.b."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                     for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def test_no_package_imports_one_above_it():
    modules = project_modules()
    upward = []
    for name, path in modules.items():
        package = name.split(".")[0]
        if package not in MAY_NOT_IMPORT or path.name == "__main__.py":
            continue
        upward += [f"{name} imports {target}" for target in sorted(imports_of(path, modules))
                   if target.split(".")[0] in MAY_NOT_IMPORT[package]]
    assert upward == []


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


def test_the_walk_sees_imports_at_every_depth(tmp_path):
    """The checks above would pass on a walk that found nothing: it finds module-level and lazy imports, and
    `from package import module`."""
    modules = project_modules()
    assert imports_of(ROOT / "viewer" / "reenact.py", modules) >= {"tracking.sources", "models.atomic_file",
                                                                     "tracking.tracker"}  # the last one lazy
    assert "avatar.gem.avatar" in imports_of(ROOT / "avatar" / "__init__.py", modules)
