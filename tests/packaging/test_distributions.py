"""What is shipped: the sdist and the wheel built from this checkout without network
access (``python -m build --no-isolation``, the wheel built from the sdist as a packager
would), their contents and metadata, and the wheel installed and run on its own.
"""

from __future__ import annotations

import email.parser
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "packaging" / "posdriver.example.toml"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,) = out.glob("posdriver-*.tar.gz")
    (wheel,) = out.glob("posdriver-*-py3-none-any.whl")
    yield {"sdist": sdist, "wheel": wheel}


def _sdist_names(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as tar:
        return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}


def test_sdist_carries_docs_packaging_tests_and_the_license(dists: dict[str, Path]) -> None:
    names = _sdist_names(dists["sdist"])
    for tracked in ("docs", "packaging"):
        listed = subprocess.run(
            ["git", "ls-files", tracked], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.split()
        if not listed:  # not a git checkout (an unpacked sdist): what is there
            listed = [str(p.relative_to(ROOT)) for p in (ROOT / tracked).rglob("*") if p.is_file()]
        missing = sorted(set(listed) - names)
        assert not missing, f"{tracked}/ files missing from the sdist: {missing}"
    for name in (
        "LICENSE",
        "README.md",
        "packaging/posdriver.example.toml",
        "packaging/systemd/posdriver.service",
        "packaging/systemd/posdriver.sysusers",
        "tests/conftest.py",
    ):
        assert name in names
    assert not [n for n in names if "__pycache__" in n or "node_modules" in n]


def test_license_is_the_apache_license_the_metadata_names() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text.splitlines()[1]
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as whl:
        (name,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(whl.read(name).decode())


def test_wheel_metadata(dists: dict[str, Path]) -> None:
    from trove_classifiers import classifiers as known

    meta = _metadata(dists["wheel"])
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    classifiers = meta.get_all("Classifier") or []
    assert classifiers, "no classifiers"
    assert set(classifiers) <= known, set(classifiers) - known
    # a license expression and a license classifier together are refused by PyPI
    assert not [c for c in classifiers if c.startswith("License ::")]
    # URLs only where there is a real home; none may be a placeholder
    for url in meta.get_all("Project-URL") or []:
        assert "example" not in url and "TODO" not in url, url
    with zipfile.ZipFile(dists["wheel"]) as whl:
        names = whl.namelist()
    assert "posdriver-0.1.0.dist-info/licenses/LICENSE" in names
    assert "posdriver/service/page_files/index.html" in names
    assert [n for n in names if n.startswith("posdriver_emulator/scenarios/")]


def test_wheel_installs_and_runs_on_its_own(dists: dict[str, Path], tmp_path: Path) -> None:
    """Installed from the wheel alone (its dependencies come from this environment), the
    commands start from the installed files, not from the checkout."""
    target = tmp_path / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(dists["wheel"]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    env = dict(os.environ, PYTHONPATH=str(target))
    probe = "import posdriver, posdriver.cli; print(posdriver.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(target)), where
    version = subprocess.run(
        [sys.executable, "-m", "posdriver", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "posdriver 0.1.0"
    assert (target / "bin" / "posdriver").exists()
    assert (target / "bin" / "posdriver-emulator").exists()


def test_example_config_passes_config_check() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "posdriver", "config", "check", "--config", str(EXAMPLE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("configuration OK: ")
    assert "terminals: desk1, desk2" in done.stdout
    assert "printers:  receipt" in done.stdout
