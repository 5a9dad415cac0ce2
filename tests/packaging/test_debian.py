"""The Debian package (packaging/debian/build): its control data and contents, and, as
root, a real `dpkg -i` into a scratch root (--root, the maintainer scripts run against it
through $DPKG_ROOT), the program run from there, the unit enabled and verified, and the
package removed again.

Building the package fetches the dependencies' wheels from the package index, which the
tests never touch: CI builds it first (`make dist` in .ci/run) and names it in
$POSDRIVER_DEB; without that variable the tests that need it are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEBIAN = ROOT / "packaging" / "debian"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def deb() -> Path:
    named = os.environ.get("POSDRIVER_DEB")
    if not named:
        pytest.skip(
            "no package to test: build one with packaging/debian/build and name it in "
            "POSDRIVER_DEB (CI does: make dist)"
        )
    path = Path(named)
    assert path.is_file(), f"POSDRIVER_DEB={named}: no such file"
    return path


def _run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=300, cwd=cwd, check=False
    )
    assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
    return done


@pytest.mark.parametrize("script", ["postinst", "prerm", "postrm"])
def test_maintainer_scripts_are_posix_shell(script: str) -> None:
    """dpkg runs them with /bin/sh (dash on Debian): no bash-only syntax."""
    path = DEBIAN / script
    assert path.read_text().startswith("#!/bin/sh\n")
    assert os.access(path, os.X_OK)
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell
    _run(shell, "-n", path)
    text = path.read_text()
    assert "[[" not in text and "function " not in text
    assert "set -e" in text


def test_build_script_is_valid_bash() -> None:
    _run("bash", "-n", DEBIAN / "build")


def _control(deb: Path) -> dict[str, str]:
    text = _run(_tool("dpkg-deb"), "--field", deb).stdout
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith(" ") and key:
            fields[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _contents(deb: Path) -> dict[str, str]:
    """Path -> its listing line (mode, owner, size, date, path [-> target])."""
    lines = _run(_tool("dpkg-deb"), "--contents", deb).stdout.splitlines()
    found = {}
    for line in lines:
        path = line.split(None, 5)[5].split(" -> ")[0]
        found[path.removeprefix(".")] = line
    return found


def test_control_data(deb: Path) -> None:
    fields = _control(deb)
    assert fields["Package"] == "posdriver"
    assert fields["Version"] == VERSION
    assert deb.name == f"posdriver_{VERSION}_{fields['Architecture']}.deb"
    depends = fields["Depends"]
    for needed in ("python3 (>= 3.11", "python3-venv", "libusb-1.0-0"):
        assert needed in depends
    wheels = [p for p in _contents(deb) if p.startswith("/opt/posdriver/wheels/")]
    platform_wheels = [w for w in wheels if w.endswith(".whl") and "-none-any" not in w]
    if platform_wheels:  # built for one machine and one Python: the package says so
        assert fields["Architecture"] != "all"
        minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
        assert f"python3 (>= {minor})" in depends and "python3 (<< " in depends
    else:
        assert fields["Architecture"] == "all"


def test_contents(deb: Path) -> None:
    contents = _contents(deb)
    for path in (
        "/usr/lib/systemd/system/posdriver.service",
        "/usr/lib/sysusers.d/posdriver.conf",
        "/usr/lib/udev/rules.d/60-posdriver.rules",
        "/usr/share/man/man1/posdriver.1.gz",
        "/usr/share/bash-completion/completions/posdriver",
        "/usr/share/zsh/vendor-completions/_posdriver",
        "/usr/share/doc/posdriver/copyright",
        "/usr/share/doc/posdriver/examples/posdriver.toml",
        "/usr/share/doc/posdriver/docs/install.md",
    ):
        assert path in contents, path
    assert contents["/usr/bin/posdriver"].endswith("-> /opt/posdriver/venv/bin/posdriver")
    # root-owned, nothing writable by others, no file under /etc (no conffile to clash
    # with the one the operator writes)
    for path, line in contents.items():
        mode, owner = line.split()[:2]
        assert owner == "root/root", line
        assert mode[8] != "w" or mode[0] == "l", line
        assert not path.startswith("/etc/"), path
    # one date for everything: SOURCE_DATE_EPOCH
    dates = {" ".join(line.split()[3:5]) for line in contents.values()}
    assert len(dates) == 1, dates


def test_wheelhouse_holds_every_dependency(deb: Path, tmp_path: Path) -> None:
    _run(_tool("dpkg-deb"), "-x", deb, tmp_path)
    wheels = list((tmp_path / "opt/posdriver/wheels").glob("*.whl"))
    names = {re.sub(r"[-_.]+", "-", w.name.split("-")[0]).lower() for w in wheels}
    (ours,) = [w for w in wheels if w.name.startswith(f"posdriver-{VERSION}-")]
    with zipfile.ZipFile(ours) as whl:
        meta = whl.read(f"posdriver-{VERSION}.dist-info/METADATA").decode()
    required = [
        line.split(":", 1)[1].strip()
        for line in meta.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert required
    for requirement in required:
        name = re.split(r"[<>=!~; \[]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in names, requirement


@pytest.fixture
def scratch_root(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("dpkg installs as root only (CI runs as root)")
    root = tmp_path / "root"
    for sub in ("var/lib/dpkg/updates", "var/lib/dpkg/info", "etc"):
        (root / sub).mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    (root / "var/lib/dpkg/available").touch()
    yield root


def _dpkg(root: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    # the dependencies are this system's, not the empty root's; the maintainer scripts run
    # on this system against $DPKG_ROOT (no chroot: the root has no shell of its own)
    return _run(
        _tool("dpkg"),
        f"--root={root}",
        "--force-script-chrootless",
        "--force-depends",
        "--log=/dev/null",
        *args,
    )


def test_dpkg_installs_runs_enables_and_removes(deb: Path, scratch_root: Path) -> None:
    root = scratch_root
    _dpkg(root, "-i", deb)
    status = _run(
        _tool("dpkg-query"),
        f"--admindir={root}/var/lib/dpkg",
        "-W",
        "-f=${Status} ${Version}",
        "posdriver",
    ).stdout
    assert status == f"install ok installed {VERSION}"

    # postinst: the venv from the shipped wheels, offline
    program = root / "opt/posdriver/venv/bin/posdriver"
    assert _run(program, "--version", cwd=root).stdout.strip() == f"posdriver {VERSION}"
    example = root / "usr/share/doc/posdriver/examples/posdriver.toml"
    checked = _run(program, "config", "check", "--config", example, cwd=root).stdout
    assert checked.startswith("configuration OK")
    # ... and the service's user, for SupplementaryGroups=posdriver
    passwd = (root / "etc/passwd").read_text()
    assert re.search(r"^posdriver:x:\d+:\d+:", passwd, re.M), passwd
    assert re.search(r"^posdriver:x:\d+:", (root / "etc/group").read_text(), re.M)

    # the unit as installed: enabled, and verified with its program where it lives here
    unit = root / "usr/lib/systemd/system/posdriver.service"
    _run(_tool("systemctl"), f"--root={root}", "enable", "posdriver.service")
    wanted = root / "etc/systemd/system/multi-user.target.wants/posdriver.service"
    assert os.readlink(wanted) == "/usr/lib/systemd/system/posdriver.service"
    here = root / "verify" / "posdriver.service"
    here.parent.mkdir()
    here.write_text(
        unit.read_text().replace("ExecStart=/usr/bin/posdriver ", f"ExecStart={program} ")
    )
    verify = _run(_tool("systemd-analyze"), "verify", here)
    assert not [line for line in (verify.stdout + verify.stderr).splitlines() if here.name in line]

    # removal takes the venv (dpkg does not own it) and leaves a journal alone
    journal = root / "var/lib/posdriver/journal.sqlite3"
    journal.parent.mkdir(parents=True)
    journal.write_bytes(b"kept")
    _dpkg(root, "--purge", "posdriver")
    assert not (root / "opt/posdriver/venv").exists()
    assert not unit.exists()
    assert journal.read_bytes() == b"kept"


def test_the_build_is_reproducible(deb: Path, tmp_path: Path) -> None:
    """Built again from the same commit, with the wheels the package carries as the only
    source of dependencies (no network), the package is the same bytes."""
    _run(_tool("dpkg-deb"), "-x", deb, tmp_path / "x")
    again = tmp_path / "again"
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run(
        [
            str(DEBIAN / "build"),
            "--out",
            str(again),
            "--wheelhouse",
            str(tmp_path / "x/opt/posdriver/wheels"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = again.glob("*.deb")
    assert built.name == deb.name
    assert built.read_bytes() == deb.read_bytes(), (
        f"{deb} and its rebuild differ: not reproducible, or built from another commit"
    )
