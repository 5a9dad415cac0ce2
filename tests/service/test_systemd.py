"""systemd integration: sd_notify datagrams on real sockets, the watchdog gate, and the
shipped unit file and udev rules checked by systemd's own tools where this system has them.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from posdriver.config import ServiceConfig
from posdriver.service.systemd import Notifier, Watchdog
from posdriver.terminal.zvt.exchange import T4_DEFAULT

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "systemd" / "posdriver.service"
RULES = ROOT / "packaging" / "udev" / "60-posdriver.rules"
SYSUSERS = ROOT / "packaging" / "systemd" / "posdriver.sysusers"
# groups every Debian system has (base-passwd): nothing of ours needs to create them
BASE_GROUPS = {"dialout", "lp"}

# ---------------------------------------------------------------------------------------
# sd_notify on real AF_UNIX datagram sockets


class Listener:
    """The service manager's end: a bound datagram socket and the NOTIFY_SOCKET naming it."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name

    def env(self, **extra: str) -> dict[str, str]:
        """A copy of the real environment with NOTIFY_SOCKET set (os.environ untouched)."""
        return dict(os.environ, NOTIFY_SOCKET=self.name, **extra)

    def receive(self) -> bytes:
        """The next datagram; a deadline, so a missing one fails instead of hanging."""
        self.sock.settimeout(5.0)
        return self.sock.recv(65536)

    def nothing_pending(self) -> bool:
        """True when no datagram is queued. A datagram sent on an AF_UNIX socket is queued
        at the receiver before sendto returns, so "nothing yet" is final here."""
        self.sock.setblocking(False)
        try:
            self.sock.recv(65536)
        except BlockingIOError:
            return True
        return False


@pytest.fixture
def path_listener(tmp_path: Path) -> Iterator[Listener]:
    path = tmp_path / "notify.sock"
    short_dir = None
    if len(os.fsencode(path)) > 100:  # sun_path holds 108 bytes
        short_dir = tempfile.mkdtemp(prefix="pdn")
        path = Path(short_dir) / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        yield Listener(sock, str(path))
    finally:
        sock.close()
        if short_dir:
            shutil.rmtree(short_dir, ignore_errors=True)


@pytest.fixture
def abstract_listener() -> Iterator[Listener]:
    name = f"posdriver-test-{secrets.token_hex(8)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    try:
        yield Listener(sock, "@" + name)
    finally:
        sock.close()


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_datagrams_are_exact(
    kind: str, path_listener: Listener, abstract_listener: Listener
) -> None:
    listener = path_listener if kind == "path" else abstract_listener
    notifier = Notifier.from_env(listener.env())
    assert notifier.enabled

    assert notifier.ready() is True
    assert listener.receive() == b"READY=1"
    assert notifier.ready("2 devices ready") is True
    assert listener.receive() == b"READY=1\nSTATUS=2 devices ready"
    assert notifier.status("printer front-desk: paper out") is True
    assert listener.receive() == b"STATUS=printer front-desk: paper out"
    assert notifier.watchdog() is True
    assert listener.receive() == b"WATCHDOG=1"
    assert notifier.stopping() is True
    assert listener.receive() == b"STOPPING=1"
    assert notifier.extend_timeout(200) is True
    assert listener.receive() == b"EXTEND_TIMEOUT_USEC=200000000"
    assert listener.nothing_pending()


def test_reloading_carries_the_monotonic_clock(path_listener: Listener) -> None:
    notifier = Notifier.from_env(path_listener.env())
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading() is True
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = path_listener.receive().split(b"\n")
    assert first == b"RELOADING=1"
    key, _, value = second.partition(b"=")
    assert key == b"MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_a_newline_in_status_cannot_forge_another_assignment(path_listener: Listener) -> None:
    notifier = Notifier.from_env(path_listener.env())
    notifier.status("printer says:\nREADY=1\r\nMAINPID=1")
    assert path_listener.receive() == b"STATUS=printer says: READY=1 MAINPID=1"


def test_utf8_status(path_listener: Listener) -> None:
    Notifier.from_env(path_listener.env()).status("Café-Drucker: Papier fast leer")
    assert path_listener.receive() == "STATUS=Café-Drucker: Papier fast leer".encode()


def test_without_a_socket_everything_is_a_no_op() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    env["WATCHDOG_USEC"] = "30000000"  # a watchdog without a socket is still no watchdog
    notifier = Notifier.from_env(env)
    assert not notifier.enabled
    assert notifier.ready("x") is False
    assert notifier.status("x") is False
    assert notifier.reloading() is False
    assert notifier.watchdog() is False
    assert notifier.stopping() is False
    assert notifier.extend_timeout(5) is False
    assert notifier.watchdog_interval() is None


@pytest.mark.parametrize("raw", ["", "relative/notify.sock", "@"])
def test_an_unusable_socket_name_disables_notification(raw: str) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": raw})
    assert not notifier.enabled
    assert notifier.ready() is False


def test_from_env_reads_the_process_environment_by_default(
    path_listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", path_listener.name)
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    notifier = Notifier.from_env()
    assert notifier.watchdog_interval() == 2.0
    notifier.ready()
    assert path_listener.receive() == b"READY=1"


def test_send_failures_never_raise_and_are_logged_once_per_outage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    where = tmp_path / "n.sock"
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(where)})
    caplog.set_level(logging.INFO, logger="posdriver.service.systemd")

    assert [notifier.watchdog() for _ in range(3)] == [False, False, False]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(where) in warnings[0].getMessage()

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(where))
        assert notifier.watchdog() is True
        sock.settimeout(5.0)
        assert sock.recv(100) == b"WATCHDOG=1"
    assert any("works again" in r.getMessage() for r in caplog.records)

    where.unlink()  # the manager went away again: a new outage is worth one more line
    caplog.clear()
    assert notifier.status("x") is False
    assert notifier.status("y") is False
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "OURS"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "OTHER"}, None),
        ({"WATCHDOG_USEC": "500000"}, 0.25),
        ({"WATCHDOG_USEC": " 2000000\n"}, 1.0),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "thirty"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"}, 15.0),
        ({}, None),
    ],
)
def test_watchdog_interval(
    extra: dict[str, str], expected: float | None, path_listener: Listener
) -> None:
    pids = {"OURS": str(os.getpid()), "OTHER": str(os.getpid() + 1)}
    env = {"NOTIFY_SOCKET": path_listener.name}
    env.update({key: pids.get(value, value) for key, value in extra.items()})
    assert Notifier.from_env(env).watchdog_interval() == expected


# ---------------------------------------------------------------------------------------
# the watchdog gate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _watchdog_env(listener: Listener) -> dict[str, str]:
    env = listener.env(WATCHDOG_USEC="10000000")  # 10 s: ping every 5 s
    env.pop("WATCHDOG_PID", None)
    return env


def test_watchdog_pings_once_per_interval(path_listener: Listener) -> None:
    clock = Clock()
    dog = Watchdog(Notifier.from_env(_watchdog_env(path_listener)), lambda: True, clock=clock)
    assert dog.enabled and dog.interval == 5.0

    assert dog.tick() is True  # the first tick pings at once
    assert path_listener.receive() == b"WATCHDOG=1"
    clock.now += 4.9
    assert dog.tick() is False
    assert dog.seconds_until_due() == pytest.approx(0.1)
    assert path_listener.nothing_pending()
    clock.now += 0.1
    assert dog.tick() is True
    assert path_listener.receive() == b"WATCHDOG=1"
    assert path_listener.nothing_pending()


def test_a_hung_worker_stops_the_pings(
    path_listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    alive = {"ok": True}
    dog = Watchdog(
        Notifier.from_env(_watchdog_env(path_listener)), lambda: alive["ok"], clock=clock
    )
    assert dog.tick() is True
    assert path_listener.receive() == b"WATCHDOG=1"

    alive["ok"] = False
    caplog.set_level(logging.INFO, logger="posdriver.service.systemd")
    for _ in range(10):  # well past systemd's 10 s: it would kill and restart us now
        clock.now += 1.5
        assert dog.tick() is False
    assert path_listener.nothing_pending()
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert dog.seconds_until_due() == 0.0  # keep asking: recovery should ping at once

    alive["ok"] = True
    assert dog.tick() is True
    assert path_listener.receive() == b"WATCHDOG=1"
    assert any("resumed" in r.getMessage() for r in caplog.records)


def test_a_failing_liveness_check_counts_as_hung(
    path_listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> bool:
        raise RuntimeError("snapshot lock poisoned")

    dog = Watchdog(Notifier.from_env(_watchdog_env(path_listener)), broken, clock=Clock())
    with caplog.at_level(logging.ERROR, logger="posdriver.service.systemd"):
        assert dog.tick() is False
    assert path_listener.nothing_pending()
    assert "snapshot lock poisoned" in caplog.text


def test_liveness_is_not_asked_before_a_ping_is_due(path_listener: Listener) -> None:
    clock = Clock()
    calls = []

    def alive() -> bool:
        calls.append(clock.now)
        return True

    dog = Watchdog(Notifier.from_env(_watchdog_env(path_listener)), alive, clock=clock)
    for _ in range(8):  # ticks at 1000 ... 1007
        dog.tick()
        clock.now += 1.0
    assert calls == [1000.0, 1005.0]


def test_watchdog_is_off_without_watchdog_usec(path_listener: Listener) -> None:
    env = path_listener.env()
    env.pop("WATCHDOG_USEC", None)
    dog = Watchdog(Notifier.from_env(env), lambda: True)
    assert not dog.enabled
    assert dog.seconds_until_due() is None
    assert dog.tick() is False
    assert path_listener.nothing_pending()


def test_watchdog_with_real_time(path_listener: Listener) -> None:
    """No injected clock: a 0.2 s interval pings again once 0.2 s have really passed."""
    env = path_listener.env(WATCHDOG_USEC="400000")
    env.pop("WATCHDOG_PID", None)
    dog = Watchdog(Notifier.from_env(env), lambda: True)
    assert dog.tick() is True
    assert path_listener.receive() == b"WATCHDOG=1"
    deadline = time.monotonic() + 5.0
    while not dog.tick():
        assert time.monotonic() < deadline, "the second ping never became due"
        time.sleep(min(0.01, dog.seconds_until_due() or 0.01))
    assert path_listener.receive() == b"WATCHDOG=1"


# ---------------------------------------------------------------------------------------
# the unit file


def _unit_settings(text: str) -> dict[str, list[str]]:
    """Key -> values (a key may repeat, as DeviceAllow= does), across all sections."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=value: {line!r}"
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def _installed_script() -> Path:
    return Path(sys.executable).parent / "posdriver"


def _verifiable_unit(tmp_path: Path) -> Path:
    """The shipped unit with ExecStart= pointing at this environment's posdriver script:
    verify checks that the binary exists, and /usr/bin/posdriver does not exist here."""
    script = _installed_script()
    if not script.exists():
        pytest.skip(f"no posdriver script next to {sys.executable} (package not installed)")
    text = UNIT.read_text()
    assert "ExecStart=/usr/bin/posdriver " in text
    unit = tmp_path / "posdriver.service"
    unit.write_text(text.replace("ExecStart=/usr/bin/posdriver ", f"ExecStart={script} "))
    return unit


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    return tool


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    unit = _verifiable_unit(tmp_path)
    done = subprocess.run(
        [tool, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # an unknown or misspelt key is only a warning ("Unknown key ..., ignoring"): fail on it
    about_us = [line for line in output.splitlines() if unit.name in line]
    assert not about_us, output


def test_verify_would_catch_a_typo(tmp_path: Path) -> None:
    """The check above is only worth something if verify complains about our kind of slip."""
    tool = _systemd_analyze()
    unit = _verifiable_unit(tmp_path)
    unit.write_text(unit.read_text().replace("DevicePolicy=", "DevicePolicie="))
    done = subprocess.run(
        [tool, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert "DevicePolicie" in done.stdout + done.stderr


def test_unit_security_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tool = _systemd_analyze()
    unit = _verifiable_unit(tmp_path)
    done = subprocess.run(
        [tool, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and "offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip(f"systemd-analyze security --offline is not supported here: {done.stderr}")
    assert done.returncode == 0, done.stdout + done.stderr
    score = [line for line in done.stdout.splitlines() if "Overall exposure level" in line]
    assert score, done.stdout
    with capsys.disabled():
        print(f"\n{score[0].strip()}")


def test_unit_settings_that_matter() -> None:
    s = _unit_settings(UNIT.read_text())

    def one(key: str) -> str:
        assert len(s.get(key, [])) == 1, f"{key}= should appear exactly once: {s.get(key)}"
        return s[key][0]

    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"
    assert one("WatchdogSec") == "30"
    assert one("Restart") == "always"
    # exit 2 (a journal or configuration it cannot use) is not restarted into a loop
    assert one("RestartPreventExitStatus") == "2"
    assert one("KillSignal") == "SIGTERM"
    assert one("DynamicUser") == "yes"
    assert one("ConfigurationDirectory") == "posdriver"
    assert one("StateDirectory") == "posdriver"
    assert one("CapabilityBoundingSet") == ""
    assert one("NoNewPrivileges") == "yes"
    assert one("MemoryDenyWriteExecute") == "yes"
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert "PYTHONUNBUFFERED=1" in s["Environment"]
    # both listeners full, with room to spare for the journal, devices and log
    assert int(one("LimitNOFILE")) >= 2 * ServiceConfig().max_connections + 256
    # draining a payment may wait the terminal's whole T4: stopping must allow for it
    assert float(one("TimeoutStopSec")) > T4_DEFAULT
    # never hide the devices this daemon exists to drive
    assert s.get("PrivateDevices", ["no"]) == ["no"]
    assert one("DevicePolicy") == "closed"
    allowed = set(s["DeviceAllow"])
    assert {"char-ttyUSB rw", "char-ttyACM rw", "char-ttyS rw", "char-usb_device rw"} <= allowed
    assert set(one("RestrictAddressFamilies").split()) == {
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
    }

    argv = one("ExecStart").split()
    assert argv[:2] == ["/usr/bin/posdriver", "serve"]
    assert argv[argv.index("--config") + 1] == "/etc/posdriver/posdriver.toml"
    assert argv[argv.index("--state-dir") + 1] == "${STATE_DIRECTORY}"


def test_unit_groups_match_the_udev_rules() -> None:
    groups = set(_unit_settings(UNIT.read_text())["SupplementaryGroups"][0].split())
    assigned = {
        value
        for rule in _udev_rules(RULES.read_text())
        for key, op, value in rule.tokens
        if key == "GROUP"
    }
    assert assigned == {"lp", "dialout"}
    assert assigned <= groups


def test_exec_start_options_exist_in_the_cli() -> None:
    """The unit's command line must be one `posdriver serve` accepts."""
    done = subprocess.run(
        [sys.executable, "-m", "posdriver", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    if "invalid choice" in done.stderr:
        pytest.skip("this build has no `posdriver serve` yet")
    assert done.returncode == 0, done.stderr
    for option in ("--config", "--state-dir"):
        assert option in done.stdout


def _sysusers_entries(text: str) -> list[list[str]]:
    """The lines of a sysusers.d file as fields (a quoted GECOS is one field)."""
    return [
        shlex.split(line)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_sysusers_declares_the_service_user_and_its_groups() -> None:
    """Without the group posdriver, SupplementaryGroups= fails the start (216/GROUP)."""
    declared_users = set()
    declared_groups = set()
    for fields in _sysusers_entries(SYSUSERS.read_text()):
        kind, name = fields[0], fields[1]
        assert kind in {"u", "g", "m"}, fields
        if kind == "u":  # a user brings a group of its name
            declared_users.add(name)
            declared_groups.add(name)
        elif kind == "g":
            declared_groups.add(name)
    s = _unit_settings(UNIT.read_text())
    groups = set(s["SupplementaryGroups"][0].split())
    assert groups - BASE_GROUPS <= declared_groups
    # DynamicUser= takes the unit's name; a static group of it needs a static user of it
    assert UNIT.stem in declared_users


def test_systemd_sysusers_creates_them(tmp_path: Path) -> None:
    tool = shutil.which("systemd-sysusers")
    if tool is None:
        pytest.skip("systemd-sysusers is not installed (Debian: apt-get install systemd)")
    (tmp_path / "etc").mkdir()
    done = subprocess.run(
        [tool, f"--root={tmp_path}", str(SYSUSERS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    users = {
        line.split(":")[0]: line for line in (tmp_path / "etc/passwd").read_text().splitlines()
    }
    groups = {line.split(":")[0] for line in (tmp_path / "etc/group").read_text().splitlines()}
    assert "posdriver" in users and "posdriver" in groups
    uid = int(users["posdriver"].split(":")[2])
    assert uid < 1000, "a system user"
    assert users["posdriver"].endswith(":/usr/sbin/nologin")


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ("[service\n", "invalid TOML"),
        ("[service]\nno_such_key = 1\n", "no_such_key"),
        ("", "no devices are configured"),
    ],
)
def test_a_bad_config_exits_with_a_status_the_unit_does_not_restart(
    tmp_path: Path, config: str, why: str
) -> None:
    """Restarting on a bad configuration would only fail again, every RestartSec=."""
    path = tmp_path / "posdriver.toml"
    path.write_text(config)
    done = subprocess.run(
        [sys.executable, "-m", "posdriver", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert why in done.stderr
    prevented = _unit_settings(UNIT.read_text())["RestartPreventExitStatus"][0].split()
    assert str(done.returncode) in prevented, (done.returncode, prevented)


MDWE_PROBE = textwrap.dedent(
    """
    import ctypes, errno, mmap, sys
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        print("unsupported", errno.errorcode.get(ctypes.get_errno()))
        sys.exit(0)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except OSError:
        pass
    else:
        sys.exit("MDWE is not in force: a writable+executable mapping was allowed")
    # what the daemon loads: a ctypes callback (pyusb's backend uses ctypes), the drivers
    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)
    assert callback(41) == 42
    import sqlite3, serial, usb.core, usb.backend.libusb1, escpos.printer, PIL.Image
    import prometheus_client, posdriver.cli, posdriver.service.systemd
    usb.backend.libusb1.get_backend()
    sqlite3.connect(":memory:").execute("select 1")
    print("ok")
    """
)


def test_python_runs_under_memory_deny_write_execute() -> None:
    """MemoryDenyWriteExecute=yes kills programs that need writable+executable memory.
    Linux 6.3+ offers the same rule per process (PR_SET_MDWE), so the interpreter and the
    libraries the daemon loads are tried under it here, without systemd."""
    done = subprocess.run(
        [sys.executable, "-c", MDWE_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    if done.stdout.startswith("unsupported"):
        pytest.skip(f"kernel has no PR_SET_MDWE (Linux < 6.3): {done.stdout.strip()}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "ok"


# ---------------------------------------------------------------------------------------
# the udev rules

MATCH_ONLY = {
    "ACTION",
    "DEVPATH",
    "KERNEL",
    "KERNELS",
    "SUBSYSTEM",
    "SUBSYSTEMS",
    "DRIVER",
    "DRIVERS",
    "ATTRS",
    "TAGS",
    "TEST",
    "PROGRAM",
    "RESULT",
    "CONST",
    "SYSCTL",
}
ASSIGN_ONLY = {
    "OWNER",
    "GROUP",
    "MODE",
    "SECLABEL",
    "OPTIONS",
    "RUN",
    "LABEL",
    "GOTO",
    "IMPORT",
    "WAIT_FOR",
}
BOTH = {"NAME", "SYMLINK", "ENV", "ATTR", "TAG"}
NEEDS_ARGUMENT = {"ATTR", "ATTRS", "ENV", "SYSCTL", "IMPORT", "SECLABEL", "CONST"}
MAY_TAKE_ARGUMENT = {"TEST", "RUN", "PROGRAM"}
MATCH_OPS = {"==", "!="}
ASSIGN_OPS = {"=", "+=", "-=", ":="}
TOKEN = re.compile(
    r'\s*(?P<key>[A-Z_]+)(?:\{(?P<arg>[^}]*)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"]*)"\s*'
)


class Rule:
    def __init__(self, lineno: int, tokens: list[tuple[str, str, str]]) -> None:
        self.lineno = lineno
        self.tokens = tokens  # (KEY or KEY{arg}, op, value)


def _udev_rules(text: str) -> list[Rule]:
    """Parse the rules the way udev reads them, failing on anything it would reject."""
    rules = []
    logical = ""
    start = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not logical:
            start = lineno
        if raw.endswith("\\"):
            logical += raw[:-1] + " "
            continue
        line = (logical + raw).strip()
        logical = ""
        if not line or line.startswith("#"):
            continue
        tokens = []
        pos = 0
        while pos < len(line):
            m = TOKEN.match(line, pos)
            assert m, f"line {start}: cannot parse at {line[pos:]!r}"
            key, arg, op, value = m["key"], m["arg"], m["op"], m["value"]
            assert key in MATCH_ONLY | ASSIGN_ONLY | BOTH, f"line {start}: unknown key {key}"
            if key in NEEDS_ARGUMENT:
                assert arg, f"line {start}: {key} needs a {{argument}}"
            elif key not in MAY_TAKE_ARGUMENT:
                assert arg is None, f"line {start}: {key} takes no {{argument}}"
            if key in MATCH_ONLY:
                assert op in MATCH_OPS, f"line {start}: {key} can only be matched"
            if key in ASSIGN_ONLY:
                assert op in ASSIGN_OPS, f"line {start}: {key} can only be assigned"
            tokens.append((key if arg is None else f"{key}{{{arg}}}", op, value))
            pos = m.end()
            if pos < len(line):
                assert line[pos] == ",", f"line {start}: expected ',' at {line[pos:]!r}"
                pos += 1
        rules.append(Rule(start, tokens))
    assert not logical, "the file ends inside a continued line"
    return rules


def test_udev_rules_are_well_formed() -> None:
    rules = _udev_rules(RULES.read_text())
    assert rules
    labels: dict[str, int] = {}
    for index, rule in enumerate(rules):
        for key, _op, value in rule.tokens:
            if key == "LABEL":
                assert value not in labels, f"line {rule.lineno}: duplicate LABEL {value}"
                labels[value] = index
    for index, rule in enumerate(rules):
        keys = [key for key, _, _ in rule.tokens]
        ops = [op for _, op, _ in rule.tokens]
        assert any(op in ASSIGN_OPS for op in ops), f"line {rule.lineno}: matches, does nothing"
        for key, op, value in rule.tokens:
            if key == "GOTO":  # udev only jumps forward
                assert labels.get(value, -1) > index, f"line {rule.lineno}: no LABEL {value} below"
            if key == "MODE":
                assert value == "0660", f"line {rule.lineno}: MODE {value}"
            if key == "GROUP":
                assert value in {"lp", "dialout"}, f"line {rule.lineno}: GROUP {value}"
            if key == "SYMLINK":
                assert op == "+=", f"line {rule.lineno}: SYMLINK= would drop other links"
                assert value.startswith("posdriver/"), f"line {rule.lineno}: {value}"
            if key.startswith("ENV{") and op in MATCH_OPS and key.endswith("ID_USB_INTERFACES}"):
                assert re.fullmatch(r"\*:[0-9a-f?]{6}:\*", value), value
        if "LABEL" in keys:
            assert keys == ["LABEL"], f"line {rule.lineno}: LABEL shares its line"


@pytest.mark.parametrize(
    "bad",
    [
        'KERNEL=="ttyUSB*" GROUP="dialout"',  # missing comma
        'KERNEL=="ttyUSB*", GROUP=dialout',  # unquoted value
        'KERNAL=="ttyUSB*", GROUP="dialout"',  # misspelt key
        'KERNEL="ttyUSB*", GROUP="dialout"',  # assigning a match-only key
        'KERNEL=="ttyUSB*", GROUP=="dialout"',  # matching an assign-only key
        'ATTRS=="04b8", GROUP="lp"',  # ATTRS without {attribute}
        'ENV{ID_VENDOR_ID}=="04b8", GROUP{x}="lp"',  # an argument where none is taken
    ],
)
def test_the_rules_parser_rejects_what_udev_rejects(bad: str) -> None:
    with pytest.raises(AssertionError):
        _udev_rules(bad + "\n")


def _glob(pattern: str, value: str | None) -> bool:
    value = value or ""
    return any(fnmatch.fnmatchcase(value, alt) for alt in pattern.split("|"))


def _apply_rules(device: dict, builtins: dict[str, dict[str, str]]) -> dict:
    """Run our rules over one uevent, with the subset of udev semantics they use. Enough
    to test what each kind of device ends up with; udev itself is not available here."""
    rules = _udev_rules(RULES.read_text())
    env = dict(device.get("env", {}))
    result: dict = {"GROUP": None, "MODE": None, "SYMLINK": []}
    skip_to = None

    def lookup(key: str) -> str | None:
        name, _, arg = key.partition("{")
        arg = arg.rstrip("}")
        if name == "ENV":
            return env.get(arg)
        if name == "ATTR":
            return device.get("attr", {}).get(arg)
        if name == "ATTRS":
            return device.get("attrs", {}).get(arg)
        if name == "SUBSYSTEMS":
            return "usb" if device.get("attrs") else ""
        return device.get(name.lower())

    for rule in rules:
        keys = {key: value for key, _, value in rule.tokens}
        if skip_to is not None:
            if keys.get("LABEL") == skip_to:
                skip_to = None
            continue
        matched = True
        for key, op, value in rule.tokens:
            if op in MATCH_OPS and not key.startswith("IMPORT"):
                hit = _glob(value, lookup(key))
                if hit != (op == "=="):
                    matched = False
                    break
        if not matched:
            continue
        for key, op, value in rule.tokens:
            if op not in ASSIGN_OPS:
                continue
            expanded = re.sub(r"\$env\{([^}]*)\}", lambda m: env.get(m[1], ""), value)
            if key == "IMPORT{builtin}":
                env.update(builtins.get(value, {}))
            elif key.startswith("ENV{"):
                env[key[4:-1]] = expanded
            elif key == "SYMLINK":
                result["SYMLINK"].append(expanded)
            elif key in ("GROUP", "MODE"):
                result[key] = expanded
            elif key == "GOTO":
                skip_to = value
    return result


def _usb_device(vid: str, pid: str, interfaces: str) -> dict:
    return {
        "action": "add",
        "subsystem": "usb",
        "kernel": "1-2",
        "env": {"DEVTYPE": "usb_device", "ID_USB_INTERFACES": interfaces},
        "attr": {"idVendor": vid, "idProduct": pid},
        "attrs": {"idVendor": vid, "idProduct": pid},
    }


def _tty(kernel: str, vid: str, pid: str, serial: str | None) -> tuple[dict, dict]:
    device = {
        "action": "add",
        "subsystem": "tty",
        "kernel": kernel,
        "attrs": {"idVendor": vid, "idProduct": pid},
    }
    usb_id = {"ID_VENDOR_ID": vid, "ID_MODEL_ID": pid, "ID_USB_INTERFACE_NUM": "00"}
    if serial:
        usb_id["ID_SERIAL_SHORT"] = serial
    builtins = {
        "usb_id": usb_id,
        "path_id": {"ID_PATH_TAG": "pci-0000_00_14_0-usb-0_2_1_0"},
    }
    return device, builtins


@pytest.mark.parametrize(
    ("vid", "pid", "interfaces", "group"),
    [
        ("04b8", "0202", ":ffff00:", "lp"),  # TM-T88 in vendor-class mode
        ("04b8", "0e15", ":070102:", "lp"),  # TM-T20II
        ("04b8", "0e28", ":070102:", "lp"),  # TM-T20III
        ("04b8", "0e99", ":070102:", "lp"),  # an Epson model we do not list (TM-m30...)
        ("0416", "5011", ":070102:", "lp"),  # a no-name 80 mm printer, printer class
        ("04b8", "0142", ":ffffff:", None),  # an Epson scanner: not ours
        ("046d", "c077", ":030102:", None),  # a mouse
        ("0bda", "8153", ":ffff00:020600:0a0000:", None),  # a network adapter
    ],
)
def test_udev_usb_printers(vid: str, pid: str, interfaces: str, group: str | None) -> None:
    result = _apply_rules(_usb_device(vid, pid, interfaces), {})
    assert result["GROUP"] == group
    assert result["MODE"] == ("0660" if group else None)
    assert result["SYMLINK"] == []


def test_udev_ignores_interfaces_and_removals() -> None:
    interface = _usb_device("04b8", "0202", ":070102:")
    interface["env"]["DEVTYPE"] = "usb_interface"  # no device node: nothing to set
    assert _apply_rules(interface, {})["GROUP"] is None
    removed = _usb_device("04b8", "0202", ":070102:")
    removed["action"] = "remove"
    assert _apply_rules(removed, {})["GROUP"] is None


@pytest.mark.parametrize(
    ("vid", "pid", "serial", "link"),
    [
        ("0403", "6001", "A1B2C3D4", "posdriver/tty-0403-6001-A1B2C3D4"),
        ("0403", "6015", "DN05XYZ", "posdriver/tty-0403-6015-DN05XYZ"),
        ("10c4", "ea60", "0001", "posdriver/tty-10c4-ea60-0001"),
        ("067b", "2303", None, "posdriver/tty-path-pci-0000_00_14_0-usb-0_2_1_0"),
        ("1a86", "7523", None, "posdriver/tty-path-pci-0000_00_14_0-usb-0_2_1_0"),
    ],
)
def test_udev_usb_serial_adapters(vid: str, pid: str, serial: str | None, link: str) -> None:
    device, builtins = _tty("ttyUSB0", vid, pid, serial)
    result = _apply_rules(device, builtins)
    assert (result["GROUP"], result["MODE"]) == ("dialout", "0660")
    assert result["SYMLINK"] == [link]


def test_udev_leaves_other_serial_devices_alone() -> None:
    device, builtins = _tty("ttyACM0", "2341", "0043", "85736323")  # an Arduino
    assert _apply_rules(device, builtins) == {"GROUP": None, "MODE": None, "SYMLINK": []}
    device, builtins = _tty("ttyUSB0", "0403", "6010", "FT4232")  # a chip we do not list
    assert _apply_rules(device, builtins)["SYMLINK"] == []


@pytest.mark.parametrize(
    ("vid", "pid", "serial", "link"),
    [
        ("079b", "0028", "12345678", "posdriver/tty-079b-0028-12345678"),  # Ingenico Telium
        ("0b00", "0084", "2113A0001", "posdriver/tty-0b00-0084-2113A0001"),  # Ingenico
        ("11ca", "0219", None, "posdriver/tty-path-pci-0000_00_14_0-usb-0_2_1_0"),  # Verifone
    ],
)
def test_udev_terminals_on_ttyacm(vid: str, pid: str, serial: str | None, link: str) -> None:
    """A card terminal whose USB port is a CDC-ACM serial port gets the same stable name
    and group as an adapter, so its configuration survives a replug."""
    device, builtins = _tty("ttyACM0", vid, pid, serial)
    result = _apply_rules(device, builtins)
    assert (result["GROUP"], result["MODE"]) == ("dialout", "0660")
    assert result["SYMLINK"] == [link]


def test_udev_adapter_ids_only_match_their_kind_of_node() -> None:
    """A terminal vendor's id on ttyUSB, or an adapter's on ttyACM, is not one of ours."""
    device, builtins = _tty("ttyUSB0", "0b00", "0084", "2113A0001")
    assert _apply_rules(device, builtins)["SYMLINK"] == []
    device, builtins = _tty("ttyACM0", "0403", "6001", "A1B2C3D4")
    assert _apply_rules(device, builtins)["SYMLINK"] == []
    device, builtins = _tty("ttyACM0", "079b", "0027", "1")  # another Sagem device
    assert _apply_rules(device, builtins)["SYMLINK"] == []


def test_udevadm_verify(tmp_path: Path) -> None:
    tool = shutil.which("udevadm")
    if tool is None:
        pytest.skip("udevadm is not installed here; the structural tests above stand in")
    probe = subprocess.run(
        [tool, "verify", "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        pytest.skip("this udevadm has no `verify` (added in systemd 253; Debian 12 has 252)")
    done = subprocess.run(
        [tool, "verify", "--resolve-names=never", str(RULES)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
