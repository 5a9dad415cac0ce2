"""Log priorities for the systemd journal: `posdriver serve` as a real process whose stderr
is a file that $JOURNAL_STREAM names (what systemd does with its stream socket), and the
same without the variable, or with one naming some other stream.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.served import serve
from tests.support.timing import wait_until

PREFIX = re.compile(r"<([0-7])>")
TOKEN = "t" * 32


def _stream_id(path: Path) -> str:
    st = path.stat()
    return f"{st.st_dev}:{st.st_ino}"


def _serve_without_devices(tmp_path: Path, journal_stream: str | None) -> tuple[int, str]:
    """`posdriver serve` on a config that warns (a token every user may read) and has no
    devices (an error, exit 2): one warning line and one error line, then the exit."""
    config = tmp_path / "posdriver.toml"
    config.write_text(f'[service]\ntoken = "{TOKEN}"\n')
    config.chmod(0o644)
    log = tmp_path / "stderr.log"
    log.touch()
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    if journal_stream == "self":
        env["JOURNAL_STREAM"] = _stream_id(log)
    elif journal_stream is not None:
        env["JOURNAL_STREAM"] = journal_stream
    with log.open("w") as stderr:
        done = subprocess.run(
            [sys.executable, "-m", "posdriver", "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            timeout=60,
            check=False,
        )
    return done.returncode, log.read_text()


def test_journal_stream_gets_priorities(tmp_path: Path) -> None:
    code, text = _serve_without_devices(tmp_path, "self")
    assert code == 2
    lines = text.splitlines()
    assert lines, text
    warning = [line for line in lines if "service.token" in line]
    assert warning and warning[0].startswith("<4>WARNING posdriver.config: "), text
    error = [line for line in lines if "no devices are configured" in line]
    assert error and error[0].startswith("<3>posdriver serve: "), text
    assert all(PREFIX.match(line) for line in lines), text


@pytest.mark.parametrize("journal_stream", [None, "0:0", "not-a-stream", "12:"])
def test_other_streams_get_plain_lines(tmp_path: Path, journal_stream: str | None) -> None:
    """A terminal, a file, a pipe, or a child that inherited the variable but whose stderr
    went elsewhere: the lines are exactly as they always were."""
    code, text = _serve_without_devices(tmp_path, journal_stream)
    assert code == 2
    assert text.splitlines()[0].startswith("WARNING posdriver.config: "), text
    assert "\nposdriver serve: no devices are configured" in text
    assert not any(PREFIX.match(line) for line in text.splitlines()), text


def test_a_bad_config_is_an_error_in_the_journal(tmp_path: Path) -> None:
    config = tmp_path / "posdriver.toml"
    config.write_text("[service\n")
    log = tmp_path / "stderr.log"
    log.touch()
    env = dict(os.environ, JOURNAL_STREAM=_stream_id(log))
    with log.open("w") as stderr:
        done = subprocess.run(
            [sys.executable, "-m", "posdriver", "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    text = log.read_text()
    assert text.startswith(f"<3>posdriver serve: {config}: line 1"), text


def test_running_daemon_logs_with_priorities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's own records carry their priority while it runs: its start is info, a
    reload of a broken config file is an error."""
    log_path = tmp_path / "serve.log"
    log_path.touch()
    monkeypatch.setenv("JOURNAL_STREAM", _stream_id(log_path))
    with log_path.open("w") as log, serve(tmp_path, log=log) as served:
        wait_until(lambda: "<6>INFO " in log_path.read_text(), 20, "an info line")
        (tmp_path / "posdriver.toml").write_text("[service\n")
        served.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "<3>ERROR " in log_path.read_text(), 20, "the refused reload")
    lines = [line for line in log_path.read_text().splitlines() if line]
    assert all(PREFIX.match(line) for line in lines), "\n".join(lines)
    refused = [line for line in lines if "reload refused" in line]
    assert refused and refused[0].startswith("<3>ERROR posdriver."), "\n".join(lines)


def test_every_line_of_a_record_and_every_level_has_its_priority(tmp_path: Path) -> None:
    """A traceback is many lines, and journald files each line on its own: all of them
    carry the record's priority. Debug and critical map to <7> and <2>."""
    import logging

    from posdriver.service.journald import JournalFormatter, stderr_is_journal

    path = tmp_path / "stderr.log"
    with path.open("w") as stream:
        assert stderr_is_journal(stream, {"JOURNAL_STREAM": _stream_id(path)})
        assert not stderr_is_journal(stream, {})
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JournalFormatter("%(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("posdriver.test-journald")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        try:
            logger.debug("polling")
            logger.critical("two\nlines")
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                logger.exception("a connection failed")
        finally:
            logger.removeHandler(handler)
    lines = path.read_text().splitlines()
    assert lines[0] == "<7>DEBUG posdriver.test-journald: polling"
    assert lines[1:3] == ["<2>CRITICAL posdriver.test-journald: two", "<2>lines"]
    assert lines[3] == "<3>ERROR posdriver.test-journald: a connection failed"
    assert lines[4] == "<3>Traceback (most recent call last):"
    assert lines[-1] == "<3>RuntimeError: boom"
    assert all(line.startswith("<3>") for line in lines[3:])
