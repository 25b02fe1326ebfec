"""The decision path's Python modules compiled to C by mypyc, used in place of their source.

`make setup` runs `kairos compile`, which compiles `MODULES` as they are (their
type annotations make their classes native structs and their calls C calls) into
`<virtualenv>/kairos-compiled/`, with a manifest: the SHA-256 of their sources and of every
module of the project they import, however indirectly (the compiled code holds their types).
`install()`, called when `kairos` is imported, puts a finder first on `sys.meta_path` that
loads those modules from there: only when every source in the manifest still hashes as it was
built and the interpreter is the one it was built for, so that an edited source is never
shadowed by an older build (the process says so once and runs the source).
`KAIROS_COMPILED=false` runs the source.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

from dotenv import dotenv_values

from kairos.logs import kv

log = logging.getLogger(__name__)

# what a decision runs through, from its context to its logged records
MODULES = (
    "kairos.memo",
    "kairos.adserver.auction",
    "kairos.adserver.caps",
    "kairos.adserver.context",
    "kairos.adserver.decision",
    "kairos.adserver.engine",
    "kairos.adserver.explain",
    "kairos.adserver.index",
    "kairos.adserver.prerender",
    "kairos.adserver.ranking",
    "kairos.adserver.render",
    "kairos.api.answering",
    "kairos.creative.assembly",
)
DIRECTORY = Path(sys.prefix) / "kairos-compiled"
MANIFEST = "manifest.json"
_OFF = frozenset({"0", "false", "no", "off"})
_PACKAGES = Path(__file__).resolve().parent.parent  # where `kairos/` is


def install(directory: Path = DIRECTORY) -> bool:
    """Loads `MODULES` compiled from `directory` from now on, where it holds a build of their
    present source for this interpreter; whether it does."""
    if switched_off():
        return False
    built = _read(directory / MANIFEST)
    if built is None:
        return False
    read = built.get("sources")
    if not isinstance(read, dict) or built != _current(read):
        log.warning(
            "compiled modules are older than their source: running the source "
            "until they are built again (kairos compile, make setup)",
            extra=kv(directory=str(directory)),
        )
        return False
    files = extensions(directory)
    if not set(MODULES) <= files.keys():
        return False
    if not any(isinstance(f, Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, Finder(files))
    return True


def switched_off() -> bool:
    """Whether `KAIROS_COMPILED` says false, in the environment or else in `.env` (where the
    settings read it too)."""
    value = os.environ.get("KAIROS_COMPILED")
    if value is None:
        value = dotenv_values(".env").get("KAIROS_COMPILED")
    return (value or "").strip().lower() in _OFF


def in_use() -> list[str]:
    """The modules of `MODULES` imported from their compiled build."""
    return [
        name
        for name in MODULES
        if (module := sys.modules.get(name)) is not None and _is_compiled(module)
    ]


class Finder:
    """Finds the compiled build of a module (and mypyc's shared library) by its name."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        self.files = dict(files)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def manifest(depended: Iterable[str]) -> dict[str, object]:
    """What a build of `MODULES` is of: the interpreter, and the source of each module it
    depends on (`closure`) by its SHA-256 (raises OSError where one is gone)."""
    sources = {}
    for name in sorted(depended):
        file = source(name)
        if file is None:
            raise FileNotFoundError(name)
        sources[name] = hashlib.sha256(file.read_bytes()).hexdigest()
    return {"python": sys.implementation.cache_tag, "modules": list(MODULES), "sources": sources}


def closure(modules: Iterable[str]) -> set[str]:
    """The modules of this project that `modules` import, however indirectly, and themselves
    (type-checking imports too: compiled code holds the types it was compiled with)."""
    found: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        file = source(name)
        if name in found or file is None:
            continue
        found.add(name)
        todo.extend(_imported(file.read_text()) - found)
    return found


def source(name: str) -> Path | None:
    """A module's source file (a package's `__init__.py`); None when it is not this project's."""
    if name != "kairos" and not name.startswith("kairos."):
        return None
    base = _PACKAGES.joinpath(*name.split("."))
    for file in (base.with_suffix(".py"), base / "__init__.py"):
        if file.is_file():
            return file
    return None


def _imported(text: str) -> set[str]:
    """The modules a source imports by name (`from a import b`: `a`, and `a.b` if a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _current(read: Mapping[str, object]) -> dict[str, object] | None:
    """The manifest the sources a build read would have now (None: one is gone)."""
    try:
        return manifest(read)
    except OSError:
        return None


def extensions(directory: Path) -> dict[str, Path]:
    """The extension modules under `directory` by module name."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    found: dict[str, Path] = {}
    for file in directory.rglob("*.so"):
        relative = file.relative_to(directory).as_posix()
        for suffix in suffixes:
            if relative.endswith(suffix):
                found[relative.removesuffix(suffix).replace("/", ".")] = file
                break
    return found


def build(directory: Path = DIRECTORY, *, force: bool = False) -> bool:
    """Compiles `MODULES` into `directory` unless it already holds a build of their present
    source; whether it compiled."""
    wanted = manifest(closure(MODULES))
    if not force and _read(directory / MANIFEST) == wanted:
        return False
    from mypyc.build import mypycify  # the build's own needs, not the server's
    from setuptools import Distribution  # type: ignore[import-untyped]

    log.info("compiling modules with mypyc (about a minute)", extra=kv(modules=len(MODULES)))

    project = _PACKAGES.parent / "pyproject.toml"  # the type checker's settings, if here
    config = ["--config-file", str(project)] if project.is_file() else []
    with tempfile.TemporaryDirectory(prefix="kairos-compiled-") as scratch:
        work = Path(scratch)
        paths = [str(source(name)) for name in MODULES]
        modules = mypycify([*config, *paths], opt_level="3", target_dir=str(work / "c"))
        dist = Distribution({"name": "kairos-compiled", "ext_modules": modules})
        command = dist.get_command_obj("build_ext")
        command.build_lib = str(work / "lib")
        command.build_temp = str(work / "temp")
        command.parallel = os.cpu_count() or 1
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.WARNING)  # not the compiler's command lines (its errors show)
        try:
            dist.run_command("build_ext")
        finally:
            root.setLevel(level)
        (work / "lib" / MANIFEST).write_text(json.dumps(wanted, indent=1) + "\n")
        staged = directory.with_name(directory.name + ".new")  # then swapped in at once
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(work / "lib", staged)
        shutil.rmtree(directory, ignore_errors=True)
        staged.rename(directory)
    return True


def _read(file: Path) -> dict[str, object] | None:
    try:
        found = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _is_compiled(module: ModuleType) -> bool:
    origin = getattr(module, "__file__", None) or ""
    return origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
