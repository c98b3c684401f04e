"""The house's layers, read from the code itself: no module imports from a layer above its own,
no import circle, and the store takes no decision (docs/decisions.md, "One house").

Every import counts, at the top of a module or inside a function, type-only ones too: a layer
reached only lazily is still reached. Importing a module's own parent package is not an edge
(Python does it for every submodule import)."""

from __future__ import annotations

import ast
from pathlib import Path

import watchbot

PACKAGE = Path(watchbot.__file__).parent

# From the top down: a module may import from its own layer and the layers below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("face", ("cli", "demo", "devserver", "__main__")),
    ("wiring", ("bot", "config")),
    ("networks", ("networks", "web")),
    ("work", ("commands", "intake", "moderation", "digest", "feeds", "enrich", "outbox", "isolation", "health",
              "formats")),
    ("store", ("store",)),
    ("pure", ("model", "published", "rooms", "policy", "links", "markup", "fetch", "waits", "logs", "processes",
              "status_text", "durations", "network", "options", "accounts", "consent", "hosts",
              "digest.build", "digest.render", "digest.schedule",  # the digest's pure functions
              "web.parameters")),  # reading a client's numbers and dates
]
# The decisions the store must not take: it runs transactions and answers queries.
DECISIONS = ("policy", "rooms", "intake", "moderation", "commands", "digest", "feeds", "enrich")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The watchbot modules `name` imports (a name imported from a package counts as its module
    when it is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("watchbot.") and target != name and not name.startswith(target + "."):
                found.add(target)
                break
    return found


def layer_of(name: str) -> int:
    relative = name.removeprefix("watchbot.")
    matches = [(len(prefix), index) for index, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if relative == prefix or relative.startswith(prefix + ".")]
    assert matches, f"{name} is in no layer: add it to LAYERS (and to the picture in docs/decisions.md)"
    return max(matches)[1]


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items() if name != "watchbot"}


def test_every_module_has_a_layer():
    for name in graph():
        layer_of(name)


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
              for name, targets in sorted(graph().items()) for target in sorted(targets)
              if target != "watchbot" and layer_of(target) < layer_of(name)]
    assert upward == []


def test_no_import_circle():
    edges = graph()
    circles, state = [], {}

    def visit(name: str, path: list[str]) -> None:  # depth first; a grey node met again closes a circle
        state[name] = "grey"
        for target in sorted(edges.get(name, ())):
            if state.get(target) == "grey":
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[name] = "black"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert [" -> ".join(circle) for circle in circles] == []


def test_the_store_imports_no_decision_module():
    taken = [f"{name} imports {target}" for name, targets in sorted(graph().items())
             if name.startswith("watchbot.store") for target in sorted(targets)
             if target.removeprefix("watchbot.").split(".")[0] in DECISIONS]
    assert taken == []


def test_the_checker_sees_an_upward_import_and_a_circle(tmp_path: Path):
    """The rules above would pass on a checker that saw nothing: show it sees both kinds."""
    known = {"watchbot.store.links", "watchbot.commands", "watchbot.store.store"}
    store_module = tmp_path / "links.py"
    store_module.write_text("from watchbot.commands import Desk\nfrom watchbot.store.store import Store\n")
    found = imports_of("watchbot.store.links", store_module, known)
    assert found == {"watchbot.commands", "watchbot.store.store"}
    assert layer_of("watchbot.commands") < layer_of("watchbot.store.links")
