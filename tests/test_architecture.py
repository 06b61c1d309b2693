"""The house rules of ARCHITECTURE.md, checked on the code itself.

Each rule reads the source with `ast`, so a rule broken in a module that no
test imports still fails here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "digest"
MAX_LINES = 450


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> Iterator[tuple[str, tuple[str, ...], int]]:
    """(module, imported names, line) for every import, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = tuple(a.name for a in node.names)
            yield base, names, node.lineno
            # `from digest import store` imports the module digest.store.
            for n in names:
                yield f"{base}.{n}", (), node.lineno


def _faces() -> list[Path]:
    faces = [PACKAGE / "schedule.py", *sorted((PACKAGE / "web").glob("*.py"))]
    cli = PACKAGE / "cli"
    faces += sorted(cli.glob("*.py")) if cli.is_dir() else [PACKAGE / "cli.py"]
    return faces


def _within(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


def test_no_module_is_over_the_limit() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize("path", _faces(), ids=lambda p: str(p.relative_to(ROOT)))
def test_faces_call_pipeline_and_service_only(path: Path) -> None:
    below = [
        f"{path.name}:{line}: {module}"
        for module, _, line in _imports(path)
        if _within(module, "digest.store") or _within(module, "digest.deliver")
    ]
    assert below == []


def _steps() -> list[Path]:
    return sorted(p for p in (PACKAGE / "pipeline").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", _faces(), ids=lambda p: str(p.relative_to(ROOT)))
def test_faces_enter_the_pipeline_by_its_door(path: Path) -> None:
    steps = {_name(p) for p in _steps()}
    inside = [f"{path.name}:{line}: {m}" for m, _, line in _imports(path) if m in steps]
    assert inside == []


def test_pipeline_steps_do_not_import_the_package() -> None:
    # The package imports its steps; a step importing it back is an import cycle.
    assert _steps(), "digest/pipeline/ should hold its step modules"
    found = [
        f"{p.relative_to(ROOT)}:{line}: {m}"
        for p in _steps()
        for m, _, line in _imports(p)
        if m == "digest.pipeline"
    ]
    assert found == []


def test_deliver_renders_nothing() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{line}: {module}"
        for p in sorted((PACKAGE / "deliver").glob("*.py"))
        for module, _, line in _imports(p)
        if _within(module, "jinja2") or _within(module, "markdown") or _within(module, "nh3")
    ]
    assert found == []


def test_only_the_store_speaks_sql() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{line}: {module}"
        for p in _modules()
        if not _within(_name(p), "digest.store")
        for module, _, line in _imports(p)
        if _within(module, "sqlalchemy") or _within(module, "sqlite3") or _within(module, "psycopg")
    ]
    assert found == []


def test_only_schedule_imports_apscheduler() -> None:
    found = [
        str(p.relative_to(ROOT))
        for p in _modules()
        if p != PACKAGE / "schedule.py"
        and any(_within(m, "apscheduler") for m, _, _ in _imports(p))
    ]
    assert found == []


def test_service_never_calls_the_pipeline() -> None:
    found = [m for m, _, _ in _imports(PACKAGE / "service.py") if _within(m, "digest.pipeline")]
    assert found == []


def test_only_wiring_reads_secrets() -> None:
    secrets = ("DIGEST_SECRET_KEY", "DIGEST_SMTP_PASSWORD")
    found = []
    for p in _modules():
        if p == PACKAGE / "wiring.py":
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            reads = isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}
            if reads:
                found.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    # config.py reads only where the config and the store are ($DIGEST_CONFIG, $DIGEST_DB).
    assert [f for f in found if not f.startswith("digest/config.py:")] == []
    assert not any(s in (PACKAGE / "config.py").read_text(encoding="utf-8") for s in secrets)


def test_no_private_name_crosses_a_module() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{line}: {module}.{name}"
        for p in _modules()
        for module, names, line in _imports(p)
        if _within(module, "digest") and module != _name(p)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert found == []


def test_architecture_names_only_modules_that_exist() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:digest|bench|tests|deploy)/[\w/.-]*)`", text))
    assert len(named) >= 20, "ARCHITECTURE.md should name the rooms and their modules"
    missing = sorted(n for n in named if not (ROOT / n.rstrip("/")).exists())
    assert missing == []


def test_every_room_is_in_architecture() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rooms = sorted(
        str(p.relative_to(ROOT)) + ("/" if p.is_dir() else "")
        for p in PACKAGE.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name not in {"__init__.py", "__main__.py"})
    )
    assert [r for r in rooms if f"`{r}`" not in text] == []


def test_every_module_is_in_architecture() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    modules = [
        str(p.relative_to(ROOT)) for p in _modules() if p.name not in {"__init__.py", "__main__.py"}
    ]
    assert [m for m in modules if f"`{m}`" not in text] == []


def test_the_store_section_is_the_schema() -> None:
    """ARCHITECTURE.md's store section: the schema version, every table and its module."""
    import digest.store  # noqa: F401  (its modules put their tables on the metadata)
    from digest.store import schema

    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("\n## The store\n", 1)[1].split("\n## ", 1)[0]
    assert f"The schema is at version {schema.SCHEMA_VERSION}:" in " ".join(section.split())
    declared = {}
    for row in re.findall(r"^\| (`.+?`) \| `(digest/store/\w+\.py)` \|", section, re.M):
        for name in re.findall(r"`(\w+)`", row[0]):
            declared[name] = row[1]
    for name in schema.metadata.tables:
        assert name in declared, f"ARCHITECTURE.md's store section lacks table {name}"
        assert re.search(rf"\b{name} = Table\(", (ROOT / declared[name]).read_text()), name
