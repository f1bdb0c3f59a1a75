"""Which app may import which: the apps form layers, from the shared helpers up to the
site-wide pages, and an import goes down (or sideways inside an app), never up. Imports inside
functions count too: they are the same dependency, only later.

The layers, lowest first (LAYERS). An app built on sites (tenancy, databases, certificates)
plugs into the site page and the site jobs through panel/sites/extensions.py, filled in its
AppConfig.ready(), instead of panel/sites importing it. panel/web is two nodes: its shared
toolkit (decorators, paging, the form base, access) and what renders pages of every app (the
dashboard, health, the template tags).

KNOWN_UPWARD lists the imports that still go up today, each one to remove; the test fails when
a new one appears and when a listed one is gone (so the list only shrinks).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS = [
    "panel.common",
    "panel.client_ip",
    "panel.web",
    "panel.audit",
    "panel.accounts",
    "panel.nodes",
    "panel.jobs",
    "panel.sites",
    "panel.tenancy",
    "panel.databases",
    "panel.certificates",
    "panel.ops",
    "panel.web.pages",
    "nusantara",
]

# panel/web's modules that render pages of every app (nothing imports the template tags; the
# templates load them).
PAGES = ("views", "health", "urls", "templatetags")

KNOWN_UPWARD = {
    # homes, pools, the probe and the root helper are tenancy's, and provisioning needs them
    ("panel/sites/handlers.py", "panel.tenancy"),
    ("panel/sites/handlers.py", "panel.tenancy.homes"),
    ("panel/sites/handlers.py", "panel.tenancy.pools"),
    ("panel/sites/handlers.py", "panel.tenancy.probe"),
    ("panel/sites/handlers.py", "panel.tenancy.rootcmd"),
    ("panel/sites/nginx.py", "panel.tenancy"),
    ("panel/sites/nginx.py", "panel.tenancy.homes"),
    ("panel/sites/resync.py", "panel.tenancy.migrate"),
    ("panel/sites/services.py", "panel.tenancy.rootcmd"),
    # the shared toolkit's 404 helpers (get_site_for, ...) and job-page selectors know the models
    ("panel/web/access.py", "panel.certificates.models"),
    ("panel/web/access.py", "panel.jobs.models"),
    ("panel/web/access.py", "panel.sites.models"),
    ("panel/web/selectors.py", "panel.jobs.models"),
    ("panel/web/selectors.py", "panel.sites.models"),
}


def _modules():
    for package in ("panel", "nusantara"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            yield path, ".".join(parts), is_package


def _imports(path: Path, module: str, is_package: bool):
    """Every module `path` imports, at module level or inside a function, as (name, line)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield name, node.lineno
            for alias in node.names:  # `from panel.tenancy import homes` imports a module
                yield f"{name}.{alias.name}", node.lineno


def _node(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "nusantara":
        return "nusantara"
    if parts[0] != "panel" or len(parts) < 2:
        return None
    if parts[1] == "web" and len(parts) > 2 and parts[2] in PAGES:
        return "panel.web.pages"
    return ".".join(parts[:2])


def _known_modules() -> set[str]:
    return {module for _path, module, _pkg in _modules()}


def _edges():
    """(importing file, imported module, line, from node, to node) across nodes."""
    known = _known_modules()
    for path, module, is_package in _modules():
        for name, line in _imports(path, module, is_package):
            if name not in known:
                continue  # a name imported from a module, already counted as the module
            source, target = _node(module), _node(name)
            if source and target and source != target:
                yield str(path.relative_to(ROOT)), name, line, source, target


def test_every_node_has_a_layer():
    nodes = {n for edge in _edges() for n in edge[3:]}
    assert nodes <= set(LAYERS), nodes - set(LAYERS)


def test_imports_go_down_the_layers():
    rank = {node: i for i, node in enumerate(LAYERS)}
    upward = {}
    for path, name, line, source, target in _edges():
        if rank[source] < rank[target]:
            upward[(path, name)] = line
    new = sorted(
        f"{path}:{line} imports {name}"
        for (path, name), line in upward.items()
        if (path, name) not in KNOWN_UPWARD
    )
    assert not new, "an import goes up the layers (tests/test_architecture.py):\n" + "\n".join(new)
    gone = sorted(f"{path} -> {name}" for path, name in KNOWN_UPWARD - set(upward))
    assert not gone, "fixed, remove from KNOWN_UPWARD:\n" + "\n".join(gone)


def test_no_cycle_between_apps_besides_the_known_upward_imports():
    graph = defaultdict(set)
    for path, name, _line, source, target in _edges():
        if (path, name) not in KNOWN_UPWARD:
            graph[source].add(target)
    seen: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, trail: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph[node]):
            assert seen.get(nxt) != 1, "import cycle: " + " -> ".join([*trail, node, nxt])
            if nxt not in seen:
                visit(nxt, [*trail, node])
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node, [])


def test_the_site_page_and_site_jobs_do_not_import_the_apps_built_on_sites():
    """The cycles sites <-> certificates, sites.views <-> tenancy/databases views and
    sites.handlers -> databases are gone: those apps register through
    panel/sites/extensions.py (and the certificates' admin inline in panel/certificates)."""
    built_on_sites = ("panel.tenancy.file_views", "panel.tenancy.sftp_views", "panel.databases")
    for path, name, line, _source, _target in _edges():
        if path.startswith("panel/sites/"):
            assert not name.startswith(built_on_sites), f"{path}:{line} imports {name}"
            assert not name.startswith("panel.certificates"), f"{path}:{line} imports {name}"


def test_no_nginx_module_imports_a_services_module():
    """nginx modules are the machine side (write, test, reload); services decide and audit.
    Checked through every module an nginx module imports, directly or not."""
    known = _known_modules()
    imports = defaultdict(set)
    for path, module, is_package in _modules():
        imports[module] |= {
            name for name, _line in _imports(path, module, is_package) if name in known
        }
    for start in (m for m in known if m.split(".")[-1] == "nginx"):
        todo, reached = [start], {start}
        while todo:
            for name in imports[todo.pop()] - reached:
                assert name.split(".")[-1] != "services", f"{start} reaches {name}"
                reached.add(name)
                todo.append(name)
