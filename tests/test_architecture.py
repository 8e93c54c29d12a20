"""The house rules of `provider/`, checked on the source: dependencies point one way.

- No import cycle between modules, counting imports inside functions (those hide cycles).
- A function-local import of `provider.*` exists only to defer a heavy load from start-up, and
  says so in a comment on its line (`# lazy: ...`); there are at most 15 of them.
- Data planes (`dps`, `hub`, `mqtt`) and the service backends never import resource-type modules:
  they ask `emu.adr` / `emu.hub` / `emu.dps` (ruff's TID251 enforces the same on every edit).
- The generic ARM layer (`provider/arm/`) imports no service.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "provider"
MAX_LOCAL_IMPORTS = 15


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported provider module, line, inside a function) for each import outside TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    in_function: set[int] = set()
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            type_only.update(id(n) for n in ast.walk(node))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only or not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            targets = [a.name for a in node.names]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, node.lineno, id(node) in in_function))
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in {t for t, _, _ in GRAPH[v]}:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return groups


def test_no_import_cycles():
    assert _cycles() == []


def test_function_local_imports_are_commented_lazy_loads():
    local = []
    for name, imports in GRAPH.items():
        lines = MODULES[name].read_text().splitlines()
        for target, line, inside in imports:
            if inside:
                local.append((name, line, target, lines[line - 1]))
    uncommented = [(n, line, t) for n, line, t, text in local if "# lazy" not in text and "# noqa" not in text]
    assert uncommented == [], "a function-local import must say why it is lazy (# lazy: ...)"
    assert len(local) <= MAX_LOCAL_IMPORTS, [f"{n}:{line} {t}" for n, line, t, _ in local]


def test_data_planes_and_backends_do_not_import_resource_types():
    crossing = [(name, target) for name, imports in GRAPH.items() for target, _, _ in imports
                if name.startswith(("provider.dps", "provider.hub", "provider.mqtt", "provider.adr"))
                and target.startswith("provider.resources")]
    assert crossing == []


def test_the_arm_layer_knows_no_service():
    services = ("provider.resources", "provider.dps", "provider.hub", "provider.mqtt", "provider.adr",
                "provider.pki", "provider.deployments", "provider.templates")
    allowed = {("provider.arm.resource_type", "provider.resources"),  # the registry's lazy loader
               ("provider.arm.frontdoor", "provider.templates")}      # calculateTemplateHash
    crossing = [(name, target) for name, imports in GRAPH.items() for target, _, _ in imports
                if name.startswith("provider.arm") and target.startswith(services)
                and (name, target.rsplit(".", target.count(".") - 1)[0]) not in allowed
                and not any(name == a and target.startswith(b) for a, b in allowed)]
    assert crossing == []
