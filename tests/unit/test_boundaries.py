"""posdriver and its emulator are peers: neither imports the other.

posdriver reaches the emulator only through the entry points in pyproject.toml
(posdriver/plugins.py), and the emulator speaks ZVT with a codec of its own. Each side
is checked twice: its source is read for import statements (also those inside
functions), and every module is imported in a fresh interpreter in which the other
package cannot be imported at all. Then the commands that need an emulator are run
without one: they say so and exit 2.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posdriver.plugins import EMULATED, EMULATORS, USB_BACKENDS, PluginMissing, load

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = "posdriver"


def emulator_package() -> str:
    """The emulator's package, as its entry point names it (whatever it is called)."""
    (entry,) = [e for e in importlib.metadata.entry_points(group=EMULATORS) if e.name == EMULATED]
    return entry.value.split(":")[0].split(".")[0]


def sources(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def imports_of(path: Path, package: str, root: Path = ROOT) -> list[str]:
    """Each ``import`` / ``from ... import`` of ``package`` in ``path`` (at any depth),
    and each import_module / __import__ of it by a literal name, as ``line: statement``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
                names = [str(first.value)]
        for name in names:
            if name == package or name.startswith(package + "."):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {name}")
    return found


def run_without(
    package: str, code: str, *args: str, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter in which ``package`` cannot be imported."""
    script = f"import sys\nsys.modules[{package!r}] = None\n{code}"
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


IMPORT_ALL = """
import importlib, json, pkgutil
root = importlib.import_module(sys.argv[1])
names = [m.name for m in pkgutil.walk_packages(root.__path__, sys.argv[1] + ".")
         if not m.name.endswith(".__main__")]
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = repr(exc)
print(json.dumps({"imported": len(names), "failed": failed}))
"""


def import_every_module(package: str, without: str) -> dict[str, Any]:
    done = run_without(without, IMPORT_ALL, package)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# -- posdriver never imports the emulator -------------------------------------------------
def test_no_posdriver_source_imports_the_emulator() -> None:
    emulator = emulator_package()
    found = [line for path in sources(PRODUCT) for line in imports_of(path, emulator)]
    assert found == [], "posdriver must reach the emulator through its entry points only"


def test_every_posdriver_module_imports_with_no_emulator_installed() -> None:
    result = import_every_module(PRODUCT, without=emulator_package())
    assert result["failed"] == {}
    assert result["imported"] > 50


def test_the_emulator_imports_nothing_from_posdriver() -> None:
    emulator = emulator_package()
    found = [line for path in sources(emulator) for line in imports_of(path, PRODUCT)]
    assert found == [], "the emulator is a peer of posdriver, not a user of its code"


def test_every_emulator_module_imports_with_no_posdriver_installed() -> None:
    result = import_every_module(emulator_package(), without=PRODUCT)
    assert result["failed"] == {}
    assert result["imported"] > 30


def test_the_checks_see_an_import_inside_a_function(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import posdriver_emulatorish\n"
        "def f():\n"
        "    from posdriver_emulator.usb import backend\n"
        "    import posdriver_emulator\n"
        "    importlib.import_module('posdriver_emulator.hooks')\n"
    )
    found = imports_of(probe, "posdriver_emulator", root=tmp_path)
    assert found == [
        "probe.py:3: posdriver_emulator.usb",
        "probe.py:4: posdriver_emulator",
        "probe.py:5: posdriver_emulator.hooks",
    ]


# -- what posdriver does with no emulator -------------------------------------------------
CLI = "from posdriver.cli import main\nraise SystemExit(main(sys.argv[1:]))"


def test_serve_emulate_without_an_emulator_says_so_and_exits_2(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = run_without(
        emulator_package(),
        CLI,
        "serve",
        "--emulate",
        "--state-dir",
        str(state),
        "--api",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("posdriver serve: --emulate: no emulator is installed (")
    assert "'posdriver.emulators' entry point 'emulated'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not state.exists()  # refused before the journal was made


def test_demo_without_an_emulator_says_so_and_exits_2(tmp_path: Path) -> None:
    done = run_without(emulator_package(), CLI, "demo", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("posdriver demo: no emulator is installed (")
    assert "Traceback" not in done.stderr


def test_usb_emulator_link_without_an_emulator_is_an_open_error() -> None:
    code = (
        "from posdriver.links import LinkOpenError, open_link\n"
        "try:\n"
        "    open_link('usb://04b8:0202?emulator=127.0.0.1:9')\n"
        "except LinkOpenError as exc:\n"
        "    print(exc)\n"
    )
    done = run_without(emulator_package(), code)
    assert done.returncode == 0, done.stderr
    assert "the USB emulator backend is not installed" in done.stdout
    assert "'posdriver.usb_backends' entry point 'emulated'" in done.stdout


# -- the lookup itself --------------------------------------------------------------------
class FakeEntryPoint:
    def __init__(self, name: str, value: str, target: Any = None) -> None:
        self.name, self.value, self._target = name, value, target

    def load(self) -> Any:
        if self._target is None:
            raise ModuleNotFoundError(f"No module named {self.value.split(':')[0]!r}")
        return self._target


def test_load_finds_by_group_and_name() -> None:
    marker = object()
    points = {
        USB_BACKENDS: [FakeEntryPoint("other", "x:y"), FakeEntryPoint(EMULATED, "a:b", marker)]
    }
    assert load(USB_BACKENDS, EMULATED, entry_points=lambda group: points.get(group, [])) is marker


def test_load_without_an_entry_point_names_group_and_name() -> None:
    with pytest.raises(
        PluginMissing, match=r"no 'posdriver\.emulators' entry point named 'emulated'"
    ):
        load(EMULATORS, EMULATED, entry_points=lambda group: [])


def test_load_of_a_module_that_is_gone_says_which() -> None:
    gone = FakeEntryPoint(EMULATED, "vanished.hooks:EMULATORS")
    with pytest.raises(PluginMissing, match=r"\(vanished.hooks:EMULATORS\) cannot be imported"):
        load(EMULATORS, EMULATED, entry_points=lambda group: [gone])


def test_the_installed_emulator_is_found() -> None:
    found = load(EMULATORS, EMULATED)
    assert callable(found.printer) and callable(found.terminal)
    assert callable(load(USB_BACKENDS, EMULATED))
