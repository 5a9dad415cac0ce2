"""The TOML configuration: defaults, every kind of mistake, failover order, CLI overrides.

Every error test writes a real file and checks that the message names the file and the
key, because that is what lets a person at the desk fix it without reading code.
"""

from __future__ import annotations

import grp
import json
import os
import re
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from posdriver import config as config_module
from posdriver.config import (
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    PrinterConfig,
    TerminalConfig,
    default_state_dir,
    load_config,
    loading,
    schema,
    with_overrides,
)
from posdriver.money import Money
from posdriver.terminal import registry
from posdriver.terminal.zvt.options import ZvtOptions

FULL = """\
state_dir = "/var/lib/posdriver"
currency = "EUR"

[receipt]
language = "en+zh"
header = ["Hotel Example", "Front desk"]
footer = ["Thank you"]
merchant_copy = true
columns = 48

[refund]
daily_cap = "500.00"
max_split_parts = 3

[print]
attempts = 7
wait_initial = 1
wait_max = 20.0
jitter = 0.25
ready_timeout = 15.0

[devices.desk1]
kind = "terminal"
url = "tcp://192.168.1.50:20007"
protocol = "zvt"
password = "000042"
refund_limit = "200.00"
standby = "desk2"
printer = "receipt"
timeout_t3 = 5.0
timeout_t4 = 180

[devices.desk2]
kind = "terminal"
url = "serial:///dev/ttyUSB1?baudrate=9600"
currency = "chf"

[devices.receipt]
kind = "printer"
url = "serial:///dev/ttyUSB0"
profile = "TM-T20II"

[devices.kitchen]
kind = "printer"
url = "usb://04b8:0202"
"""

MINIMAL_DEVICES = """\
[devices.desk1]
kind = "terminal"
url = "tcp://127.0.0.1:20007"

[devices.receipt]
kind = "printer"
url = "serial:///dev/ttyUSB0"
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may read the machine's real config or depend on who runs it."""
    monkeypatch.delenv("POSDRIVER_CONFIG", raising=False)
    monkeypatch.delenv("POSDRIVER_STATE_DIR", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setattr(loading, "DEFAULT_CONFIG_PATH", tmp_path / "etc" / "absent.toml")


def write(tmp_path: Path, text: str, name: str = "posdriver.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return path, str(info.value)


def assert_names(message: str, path: Path, key: str, *fragments: str) -> None:
    """One line of ``message`` is ``FILE: KEY: ...`` and holds every fragment."""
    prefix = f"{path}: {key}: "
    lines = [line for line in message.splitlines() if line.startswith(prefix)]
    assert lines, f"no line starts with {prefix!r} in:\n{message}"
    for fragment in fragments:
        assert any(fragment in line for line in lines), f"{fragment!r} not in {lines}"


# -- a complete file --------------------------------------------------------------------


def test_full_file_loads_every_key(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    cfg = load_config(path)

    assert cfg.source == path
    assert cfg.state_dir == Path("/var/lib/posdriver")
    assert cfg.currency == "EUR"
    assert cfg.receipt.language == "en+zh"
    assert cfg.receipt.header == ("Hotel Example", "Front desk")
    assert cfg.receipt.footer == ("Thank you",)
    assert cfg.receipt.merchant_copy is True
    assert cfg.receipt.columns == 48
    assert cfg.refund.daily_cap == Money(50000, "EUR")
    assert cfg.refund.max_split_parts == 3
    assert cfg.print.attempts == 7
    assert cfg.print.wait_initial == 1.0
    assert cfg.print.wait_max == 20.0
    assert cfg.print.jitter == 0.25
    assert cfg.print.ready_timeout == 15.0

    assert [t.name for t in cfg.terminals] == ["desk1", "desk2"]
    desk1, desk2 = cfg.terminals
    assert desk1 == TerminalConfig(
        name="desk1",
        url="tcp://192.168.1.50:20007",
        protocol="zvt",
        options=ZvtOptions(password="000042", timeout_t3=5.0, timeout_t4=180.0),
        currency="EUR",
        refund_limit=Money(20000, "EUR"),
        standby="desk2",
        printer="receipt",
    )
    assert desk2.currency == "CHF"
    assert isinstance(desk2.options, ZvtOptions)
    assert desk2.options.password == "123456"
    assert desk2.refund_limit is None
    assert desk2.standby is None and desk2.printer is None
    assert desk2.options.timeout_t3 is None and desk2.options.timeout_t4 is None
    assert cfg.printers == (
        PrinterConfig(name="receipt", url="serial:///dev/ttyUSB0", profile="TM-T20II"),
        PrinterConfig(name="kitchen", url="usb://04b8:0202", profile="TM-T88V"),
    )


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    example = re.search(r"```toml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert example, "docs/configuration.md has no TOML example"
    cfg = load_config(write(tmp_path, example.group(1)))
    assert names(cfg.failover_order("desk2")) == ["desk2", "desk1"]
    assert cfg.printer_for("desk2") == cfg.printer("receipt")


def test_refund_limit_uses_the_terminals_own_currency(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            """
            currency = "EUR"
            [devices.yen]
            kind = "terminal"
            url = "tcp://127.0.0.1:1"
            currency = "JPY"
            refund_limit = "20000"
            """,
        )
    )
    assert cfg.terminal("yen").refund_limit == Money(20000, "JPY")


def test_whole_number_amounts_are_accepted(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "[refund]\ndaily_cap = 500\n"))
    assert cfg.refund.daily_cap == Money(50000, "EUR")


def test_a_utf8_bom_is_harmless(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'currency = "USD"\n')
    assert load_config(path).currency == "USD"


def test_chinese_receipt_lines_survive(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, '[receipt]\nlanguage = "zh"\nheader = ["示例酒店", "前台"]\n')
    )
    assert cfg.receipt.header == ("示例酒店", "前台")


# -- defaults ---------------------------------------------------------------------------


def test_empty_file_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSDRIVER_STATE_DIR", str(tmp_path / "state"))
    path = write(tmp_path, "")
    cfg = load_config(path)
    assert cfg.source == path
    assert cfg.state_dir == tmp_path / "state"
    assert cfg.currency == "EUR"
    assert cfg.receipt.language == "en"
    assert cfg.receipt.header == () and cfg.receipt.footer == ()
    assert cfg.receipt.merchant_copy is False
    assert cfg.receipt.columns == 42
    assert cfg.refund.daily_cap is None
    assert cfg.refund.max_split_parts == 5
    assert (
        cfg.print.attempts,
        cfg.print.wait_initial,
        cfg.print.wait_max,
        cfg.print.jitter,
        cfg.print.ready_timeout,
    ) == (5, 0.5, 10.0, 0.5, 30.0)
    assert cfg.terminals == () and cfg.printers == ()
    assert cfg.failover_order() == []


def test_no_file_anywhere_gives_defaults(tmp_path: Path) -> None:
    cfg = load_config()
    assert cfg.source is None
    from_empty_file = load_config(write(tmp_path, ""))
    assert cfg == replace(from_empty_file, source=None)


def test_default_path_is_read_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 'currency = "GBP"\n', name="default.toml")
    monkeypatch.setattr(loading, "DEFAULT_CONFIG_PATH", path)
    cfg = load_config()
    assert cfg.source == path
    assert cfg.currency == "GBP"


def test_the_documented_default_path() -> None:
    assert Path("/etc/posdriver/posdriver.toml") == DEFAULT_CONFIG_PATH


def test_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 'currency = "USD"\n', name="env.toml")
    monkeypatch.setenv("POSDRIVER_CONFIG", str(path))
    assert load_config().currency == "USD"
    # an explicit path wins over the environment
    other = write(tmp_path, 'currency = "GBP"\n', name="other.toml")
    assert load_config(str(other)).currency == "GBP"


def test_env_var_naming_a_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "typo.toml"
    monkeypatch.setenv("POSDRIVER_CONFIG", str(missing))
    with pytest.raises(ConfigError, match="POSDRIVER_CONFIG") as info:
        load_config()
    assert str(info.value).startswith(f"{missing}: config file not found")


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(info.value) == f"{missing}: config file not found"


def test_unreadable_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)  # a directory
    assert str(info.value).startswith(f"{tmp_path}: cannot read config file")


# -- state directory --------------------------------------------------------------------


def test_state_dir_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POSDRIVER_STATE_DIR", str(tmp_path / "s"))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_state_dir() == tmp_path / "s"


def test_state_dir_for_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_state_dir() == Path("/var/lib/posdriver")


def test_state_dir_for_a_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_dir() == tmp_path / "home" / ".local" / "state" / "posdriver"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg" / "posdriver"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    assert default_state_dir() == tmp_path / "home" / ".local" / "state" / "posdriver"


def test_state_dir_in_the_file_expands_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = load_config(write(tmp_path, 'state_dir = "~/pos"\n'))
    assert cfg.state_dir == tmp_path / "pos"


def test_relative_state_dir_is_an_error(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, 'state_dir = "var/pos"\n')
    assert_names(message, path, "state_dir", "relative", "absolute")


# -- syntax and shape errors ------------------------------------------------------------


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, 'currency = "EUR"\n[receipt\ncolumns = 42\n')
    assert message.startswith(f"{path}: line 2, column 9: invalid TOML: ")


def test_toml_error_at_end_of_document_still_names_a_line(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, 'currency = "EUR"\nheader = [\n')
    assert message.startswith(f"{path}: line 3, column 1: invalid TOML: ")


def test_duplicate_key_is_a_syntax_error(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, "[print]\nattempts = 1\nattempts = 2\n")
    assert message.startswith(f"{path}: line 3, column ")


def test_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('currency = "EUR"\n[receipt]\nheader = ["Caf\xe9"]\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: line 3: not UTF-8 text")


@pytest.mark.parametrize(
    ("text", "key", "fragments"),
    [
        ("colour = 1\n", "colour", ["unknown key 'colour'", "state_dir", "devices"]),
        ("[receipt]\nfooters = []\n", "receipt.footers", ["did you mean 'footer'?"]),
        ("[print]\nretries = 3\n", "print.retries", ["unknown key 'retries'"]),
        ("[refund]\ncap = '1'\n", "refund.cap", ["unknown key 'cap'"]),
        (
            '[devices.desk1]\nkind = "terminal"\nurl = "tcp://h:1"\nrefund_limt = "1"\n',
            "devices.desk1.refund_limt",
            ["did you mean 'refund_limit'?"],
        ),
    ],
)
def test_unknown_keys_are_errors(tmp_path: Path, text: str, key: str, fragments: list[str]) -> None:
    path, message = load_error(tmp_path, text)
    assert_names(message, path, key, *fragments)


@pytest.mark.parametrize(
    ("text", "key", "fragments"),
    [
        ("[receipt]\ncolumns = 0\n", "receipt.columns", ["greater than or equal to 1", "0"]),
        ("[receipt]\ncolumns = 81\n", "receipt.columns", ["less than or equal to 80"]),
        ('[receipt]\ncolumns = "42"\n', "receipt.columns", ["whole number", "a string"]),
        ("[receipt]\ncolumns = 42.0\n", "receipt.columns", ["whole number", "a float"]),
        ('[receipt]\nlanguage = "fr"\n', "receipt.language", ["'en', 'zh' or 'en+zh'", "'fr'"]),
        ("[receipt]\nmerchant_copy = 1\n", "receipt.merchant_copy", ["true or false"]),
        ('[receipt]\nheader = "Hotel"\n', "receipt.header", ["an array of strings"]),
        ('[receipt]\nheader = ["ok", 3]\n', "receipt.header[1]", ["a string in quotes"]),
        ("[refund]\nmax_split_parts = 21\n", "refund.max_split_parts", ["20"]),
        ("[refund]\nmax_split_parts = 0\n", "refund.max_split_parts", ["1"]),
        ("[print]\nattempts = 0\n", "print.attempts", ["greater than or equal to 1"]),
        ("[print]\nattempts = 101\n", "print.attempts", ["less than or equal to 100"]),
        ("[print]\nwait_initial = 0\n", "print.wait_initial", ["greater than 0"]),
        ("[print]\nwait_max = inf\n", "print.wait_max", ["finite"]),
        ("[print]\njitter = -0.1\n", "print.jitter", ["greater than or equal to 0"]),
        ("[print]\nready_timeout = nan\n", "print.ready_timeout", ["finite"]),
        ("[print]\nwait_initial = 5\nwait_max = 2\n", "print.wait_max", ["less than"]),
        ("receipt = 3\n", "receipt", ["expected a table"]),
        ('devices = "desk1"\n', "devices", ["expected a table"]),
        ('[devices]\ndesk1 = "tcp://h:1"\n', "devices.desk1", ["expected a table"]),
        ("state_dir = 5\n", "state_dir", ["a string in quotes"]),
        ('currency = "EURO"\n', "currency", ["unknown currency 'EURO'", "ISO 4217"]),
        ('currency = "XXX"\n', "currency", ["no minor unit"]),
        ("[service]\nconnection_timeout = 0.5\n", "service.connection_timeout", ["1"]),
        ("[service]\nconnection_timeout = inf\n", "service.connection_timeout", ["finite"]),
        ("[service]\nmax_connections = 0\n", "service.max_connections", ["1"]),
        ('[service]\nmax_connections = "64"\n', "service.max_connections", ["a whole number"]),
    ],
)
def test_bad_values_name_file_and_key(
    tmp_path: Path, text: str, key: str, fragments: list[str]
) -> None:
    path, message = load_error(tmp_path, text)
    assert_names(message, path, key, *fragments)


# -- amounts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        ('"500.005"', ["has 3 decimal places; EUR has 2"]),
        ('"-5"', ["negative"]),
        ('"0"', ["is zero"]),
        ('"5,00"', ["use a dot for decimals"]),
        ("500.5", ['write amounts in quotes, such as "500.50"']),
        ("true", ["expected an amount in quotes", "a boolean"]),
    ],
)
def test_bad_daily_cap(tmp_path: Path, value: str, fragments: list[str]) -> None:
    path, message = load_error(tmp_path, f"[refund]\ndaily_cap = {value}\n")
    assert_names(message, path, "refund.daily_cap", *fragments)


def test_daily_cap_is_in_the_top_level_currency(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, 'currency = "JPY"\n[refund]\ndaily_cap = "10.50"\n')
    assert_names(message, path, "refund.daily_cap", "JPY has no decimal places")


def test_refund_limit_is_in_the_terminals_currency(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path,
        """
        [devices.desk1]
        kind = "terminal"
        url = "tcp://h:1"
        currency = "JPY"
        refund_limit = "1.5"
        """,
    )
    assert_names(message, path, "devices.desk1.refund_limit", "JPY has no decimal places")


def test_bad_terminal_currency(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path, '[devices.desk1]\nkind = "terminal"\nurl = "tcp://h:1"\ncurrency = "ABC"\n'
    )
    assert_names(message, path, "devices.desk1.currency", "unknown currency 'ABC'")


# -- devices ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        ("ftp://host/x", ["unknown scheme 'ftp'", "serial://", "tcp://"]),
        ("tcp://host", ["missing HOST:PORT"]),
        ("tcp://host:70000", ["out of range"]),
        ("serial:///dev/ttyUSB0?baud=9600", ["unknown option 'baud'"]),
        ("/dev/ttyUSB0", ["not a link URL"]),
        ("usb://printer", ["VID:PID"]),
        ("tcp://127.0.0.1]20007", ["not a link URL", "Invalid IPv6 URL"]),
    ],
)
def test_bad_urls_use_the_link_parser(tmp_path: Path, url: str, fragments: list[str]) -> None:
    path, message = load_error(tmp_path, f'[devices.desk1]\nkind = "terminal"\nurl = "{url}"\n')
    assert_names(message, path, "devices.desk1.url", *fragments)


def test_printer_url_is_checked_too(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, '[devices.receipt]\nkind = "printer"\nurl = "lpt://1"\n')
    assert_names(message, path, "devices.receipt.url", "unknown scheme 'lpt'")


@pytest.mark.parametrize("name", ["Desk1", "desk 1", "_desk", "-desk", "d" * 33, "desk.1", "収银"])
def test_bad_device_names(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f'[devices."{name}"]\nkind = "printer"\nurl = "serial:///dev/ttyS0"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f'{path}: devices."{name}": ') or message.startswith(
        f"{path}: devices.{name}: "
    )
    assert "Prometheus" in message
    assert repr(name) in message


@pytest.mark.parametrize("name", ["a", "desk1", "desk_2", "front-desk", "0", "d" * 32])
def test_good_device_names(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f'[devices."{name}"]\nkind = "printer"\nurl = "serial:///dev/ttyS0"\n')
    assert load_config(path).printers[0].name == name


def test_device_kind_is_required(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, '[devices.desk1]\nurl = "tcp://h:1"\n')
    assert_names(message, path, "devices.desk1.kind", "required key is missing", '"terminal"')


def test_device_kind_must_be_known(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, '[devices.x]\nkind = "scanner"\nurl = "tcp://h:1"\n')
    assert_names(message, path, "devices.x.kind", "'terminal' or 'printer'", "'scanner'")


def test_device_url_is_required(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, '[devices.desk1]\nkind = "terminal"\n')
    assert_names(message, path, "devices.desk1.url", "required key is missing")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("protocol", '"zvt"'),
        ("password", '"123456"'),
        ("currency", '"EUR"'),
        ("refund_limit", '"1.00"'),
        ("standby", '"desk1"'),
        ("printer", '"receipt"'),
        ("timeout_t3", "5.0"),
        ("timeout_t4", "180.0"),
    ],
)
def test_terminal_keys_on_a_printer(tmp_path: Path, key: str, value: str) -> None:
    path, message = load_error(
        tmp_path,
        MINIMAL_DEVICES + f"{key} = {value}\n",  # lands in [devices.receipt], a printer
    )
    assert_names(message, path, f"devices.receipt.{key}", "only terminals", "is a printer")


def test_printer_keys_on_a_terminal(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path, '[devices.desk1]\nkind = "terminal"\nurl = "tcp://h:1"\nprofile = "TM-T88V"\n'
    )
    assert_names(message, path, "devices.desk1.profile", "only printers", "is a terminal")


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        ('"12345"', ["six digits"]),
        ('"1234567"', ["six digits"]),
        ('"12345a"', ["six digits"]),
        ("12345", ['password = "012345"', "leading zeros"]),
        ("1234567", ["six digits"]),
        ("true", ["six digits"]),
    ],
)
def test_bad_passwords(tmp_path: Path, value: str, fragments: list[str]) -> None:
    path, message = load_error(
        tmp_path, f'[devices.desk1]\nkind = "terminal"\nurl = "tcp://h:1"\npassword = {value}\n'
    )
    assert_names(message, path, "devices.desk1.password", *fragments)


def test_unknown_protocol(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path, '[devices.desk1]\nkind = "terminal"\nurl = "tcp://h:1"\nprotocol = "opi"\n'
    )
    assert_names(message, path, "devices.desk1.protocol", "'zvt'", "'opi'")


@pytest.mark.parametrize(
    ("key", "value", "fragments"),
    [
        ("timeout_t3", "0", ["greater than 0"]),
        ("timeout_t4", "-1.0", ["greater than 0"]),
        ("timeout_t4", "inf", ["finite"]),
        ("timeout_t3", '"5"', ["a number", "a string"]),
    ],
)
def test_bad_timeouts(tmp_path: Path, key: str, value: str, fragments: list[str]) -> None:
    path, message = load_error(
        tmp_path, f'[devices.desk1]\nkind = "terminal"\nurl = "tcp://h:1"\n{key} = {value}\n'
    )
    assert_names(message, path, f"devices.desk1.{key}", *fragments)


# Every time and count in the file, with its table, its largest value and the range the
# error states. A huge value (timeout_t4 = 1e12) used to pass the check and then overflow
# the first sleep or socket timeout that met it, failing every sale.
_TERMINAL = '[devices.desk1]\nkind = "terminal"\nurl = "tcp://h:1"\n'
_PRINTER = '[devices.slip]\nkind = "printer"\nurl = "tcp://h:2"\n'
BOUNDED = [
    ("[receipt]\n", "receipt.columns", 80, "1 to 80"),
    ("[refund]\n", "refund.max_split_parts", 20, "1 to 20"),
    ("[print]\n", "print.attempts", 100, "1 to 100"),
    ("[print]\nwait_max = 600\n", "print.wait_initial", 60, "more than 0, at most 60"),
    ("[print]\nwait_initial = 0.5\n", "print.wait_max", 600, "more than 0, at most 600"),
    ("[print]\n", "print.jitter", 60, "0 to 60"),
    ("[print]\n", "print.ready_timeout", 600, "0 to 600"),
    ("[service]\n", "service.poll_interval", 3600, "0.1 to 3600"),
    ("[service]\n", "service.terminal_poll_interval", 3600, "1 to 3600"),
    ("[service]\n", "service.connectivity_interval", 86400, "10 to 86400"),
    ("[service]\n", "service.connectivity_retry_interval", 86400, "10 to 86400"),
    ("[service]\n", "service.freshness", 86400, "more than 0, at most 86400"),
    ("[service]\n", "service.reconnect_max", 3600, "0.1 to 3600"),
    ("[service]\n", "service.check_attempts", 10, "1 to 10"),
    ("[service]\n", "service.connection_timeout", 3600, "1 to 3600"),
    ("[service]\n", "service.max_connections", 1000, "1 to 1000"),
    ("[service]\n", "service.free_space_warning_mib", 100000, "0 to 100000"),
    (
        "[service]\nfree_space_warning_mib = 100000\n",
        "service.free_space_critical_mib",
        100000,
        "0 to 100000",
    ),
    (_TERMINAL, "devices.desk1.timeout_t3", 60, "more than 0, at most 60"),
    (_TERMINAL, "devices.desk1.timeout_t4", 1800, "more than 0, at most 1800"),
    (_TERMINAL, "devices.desk1.poll_interval", 3600, "0.1 to 3600"),
    (_TERMINAL, "devices.desk1.connectivity_interval", 86400, "10 to 86400"),
    (_TERMINAL, "devices.desk1.connectivity_retry_interval", 86400, "10 to 86400"),
    (_TERMINAL, "devices.desk1.check_attempts", 10, "1 to 10"),
    (_PRINTER, "devices.slip.poll_interval", 3600, "0.1 to 3600"),
]
_INT_KEYS = {
    "columns",
    "max_split_parts",
    "attempts",
    "check_attempts",
    "free_space_warning_mib",
    "free_space_critical_mib",
    "max_connections",
}


@pytest.mark.parametrize(("table", "key", "most", "allowed"), BOUNDED, ids=[b[1] for b in BOUNDED])
def test_every_time_and_count_has_a_stated_range(
    tmp_path: Path, table: str, key: str, most: int, allowed: str
) -> None:
    name = key.rsplit(".", 1)[1]
    huge = "1000000000000" if name in _INT_KEYS else "1e12"
    path, message = load_error(tmp_path, f"{table}{name} = {huge}\n")
    got = 10**12 if name in _INT_KEYS else 1e12
    assert message == (
        f"{path}: {key}: must be less than or equal to {most}, got {got!r} (allowed: {allowed})"
    )
    load_config(write(tmp_path, f"{table}{name} = {most}\n"))  # the largest one loads


def test_no_number_in_the_file_is_unbounded() -> None:
    """A new time or count key must get its range too (and a row in BOUNDED)."""
    models = [
        *schema.SECTIONS.values(),
        schema.DeviceModel,
        *(registry.get(name).options_model for name in registry.names()),
    ]
    for model in models:
        for name, field in model.model_fields.items():
            if not ({"float", "int"} & set(re.findall(r"\w+", str(field.annotation)))):
                continue
            bounds = {b for rule in field.metadata for b in ("le",) if hasattr(rule, b)}
            assert bounds == {"le"}, f"{model.__name__}.{name} has no upper bound"
            assert any(key.endswith(f".{name}") for _, key, _, _ in BOUNDED), name


def test_standby_must_not_be_itself(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path, '[devices.desk1]\nkind = "terminal"\nurl = "tcp://h:1"\nstandby = "desk1"\n'
    )
    assert_names(message, path, "devices.desk1.standby", "its own standby")


def test_standby_must_exist(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path,
        """
        [devices.desk1]
        kind = "terminal"
        url = "tcp://h:1"
        standby = "desk3"
        [devices.desk2]
        kind = "terminal"
        url = "tcp://h:2"
        """,
    )
    assert_names(
        message,
        path,
        "devices.desk1.standby",
        "no terminal named 'desk3'",
        "did you mean 'desk2'?",
        "configured terminals: desk1, desk2",
    )


def test_standby_must_be_a_terminal(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path, MINIMAL_DEVICES.replace('20007"', '20007"\nstandby = "receipt"')
    )
    assert_names(message, path, "devices.desk1.standby", "'receipt' is a printer, not a terminal")


def test_printer_must_exist(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path, '[devices.desk1]\nkind = "terminal"\nurl = "tcp://h:1"\nprinter = "receipt"\n'
    )
    assert_names(
        message, path, "devices.desk1.printer", "no printer named 'receipt'", "no printers"
    )


def test_printer_must_be_a_printer(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path,
        """
        [devices.desk1]
        kind = "terminal"
        url = "tcp://h:1"
        printer = "desk2"
        [devices.desk2]
        kind = "terminal"
        url = "tcp://h:2"
        """,
    )
    assert_names(message, path, "devices.desk1.printer", "'desk2' is a terminal, not a printer")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [refund]
        daily_cap = "1.234"
        [devices.desk1]
        kind = "terminal"
        url = "ftp://x"
        standby = "desk1"
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    assert len(problems) == 3
    assert all(p.startswith(f"{path}: ") for p in problems)
    assert str(info.value) == "\n".join(problems)


# -- the service -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("localhost", True),
        ("LocalHost", True),
        # names that only look like loopback are names: DNS decides where they go
        ("127.evil.example", False),
        ("127.0.0.1.example", False),
        ("localhost.example", False),
        ("127.1", False),  # not an address in dotted-quad form
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.10", False),
        ("pos-desk", False),
    ],
)
def test_only_real_loopback_addresses_are_loopback(host: str, loopback: bool) -> None:
    assert config_module.Address(host, 8470).loopback is loopback


def test_connection_bounds(tmp_path: Path) -> None:
    defaults = load_config(write(tmp_path, "")).service
    assert (defaults.connection_timeout, defaults.max_connections) == (10.0, 64)
    text = "[service]\nconnection_timeout = 30\nmax_connections = 8\n"
    service = load_config(write(tmp_path, text)).service
    assert (service.connection_timeout, service.max_connections) == (30.0, 8)


def test_a_name_beginning_with_127_needs_a_token(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, '[service]\napi = "127.evil.example:8470"\n')
    assert_names(message, path, "service.token", "127.evil.example:8470, beyond this machine")
    text = '[service]\napi = "127.evil.example:8470"\ntoken = "0123456789abcdef"\n'
    assert load_config(write(tmp_path, text)).service.api.host == "127.evil.example"


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        ('"hunter2-secret"', ["is 14 characters long", "at least 16 characters"]),
        ('""', ["is 0 characters long"]),
        ("12345678901234567", ["expected a string in quotes, got an integer"]),
    ],
)
def test_a_bad_token_is_not_echoed(tmp_path: Path, value: str, fragments: list[str]) -> None:
    path, message = load_error(tmp_path, f"[service]\ntoken = {value}\n")
    assert_names(message, path, "service.token", *fragments, "(its value is not shown)")
    secret = value.strip('"')
    assert not secret or secret not in message.replace(str(path), "")


# -- lookups and failover ---------------------------------------------------------------

CHAIN = """\
[devices.a]
kind = "terminal"
url = "tcp://h:1"
standby = "c"

[devices.b]
kind = "terminal"
url = "tcp://h:2"

[devices.c]
kind = "terminal"
url = "tcp://h:3"
standby = "d"

[devices.d]
kind = "terminal"
url = "tcp://h:4"
standby = "a"
printer = "p2"

[devices.p1]
kind = "printer"
url = "serial:///dev/ttyUSB0"

[devices.p2]
kind = "printer"
url = "serial:///dev/ttyUSB1"
"""


@pytest.fixture
def chain(tmp_path: Path) -> Config:
    return load_config(write(tmp_path, CHAIN))


def names(terminals: list[TerminalConfig]) -> list[str]:
    return [t.name for t in terminals]


def test_failover_follows_the_standby_chain_then_file_order(chain: Config) -> None:
    assert names(chain.failover_order()) == ["a", "c", "d", "b"]
    assert names(chain.failover_order("a")) == ["a", "c", "d", "b"]
    assert names(chain.failover_order("b")) == ["b", "a", "c", "d"]
    assert names(chain.failover_order("c")) == ["c", "d", "a", "b"]
    assert names(chain.failover_order("d")) == ["d", "a", "c", "b"]


def test_failover_with_mutual_standbys(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            """
            [devices.desk1]
            kind = "terminal"
            url = "tcp://h:1"
            standby = "desk2"
            [devices.desk2]
            kind = "terminal"
            url = "tcp://h:2"
            standby = "desk1"
            """,
        )
    )
    assert names(cfg.failover_order("desk2")) == ["desk2", "desk1"]


def test_failover_from_an_unknown_terminal(chain: Config) -> None:
    with pytest.raises(
        ConfigError, match="no terminal named 'z'; configured terminals: a, b, c, d"
    ):
        chain.failover_order("z")


def test_lookup_errors_name_the_file_and_the_known_devices(chain: Config) -> None:
    with pytest.raises(ConfigError) as info:
        chain.terminal("x")
    assert (
        str(info.value)
        == f"{chain.source}: no terminal named 'x'; configured terminals: a, b, c, d"
    )
    with pytest.raises(ConfigError, match="configured printers: p1, p2"):
        chain.printer("x")
    with pytest.raises(ConfigError, match="'p1' is a printer, not a terminal"):
        chain.terminal("p1")
    with pytest.raises(ConfigError, match="'a' is a terminal, not a printer"):
        chain.printer("a")


def test_lookups_without_devices(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""))
    with pytest.raises(ConfigError, match="no terminals are configured"):
        cfg.terminal("desk1")
    with pytest.raises(ConfigError, match="no terminals are configured"):
        cfg.failover_order("desk1")
    with pytest.raises(ConfigError, match="no printers are configured"):
        cfg.printer("receipt")


def test_printer_for(chain: Config, tmp_path: Path) -> None:
    assert chain.printer_for("d") == chain.printer("p2")
    assert chain.printer_for("a") == chain.printer("p1")
    no_printers = load_config(
        write(tmp_path, '[devices.a]\nkind = "terminal"\nurl = "tcp://h:1"\n', name="np.toml")
    )
    assert no_printers.printer_for("a") is None


# -- command-line overrides -------------------------------------------------------------


def test_no_overrides_change_nothing(chain: Config) -> None:
    assert with_overrides(chain) == chain


def test_state_dir_override(chain: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert with_overrides(chain, state_dir=tmp_path / "s").state_dir == tmp_path / "s"
    monkeypatch.chdir(tmp_path)
    assert with_overrides(chain, state_dir="rel").state_dir == tmp_path / "rel"


def test_terminal_urls_replace_the_configured_terminals(chain: Config) -> None:
    cfg = with_overrides(chain, terminals=["tcp://127.0.0.1:20007", "serial:///dev/ttyUSB3"])
    assert cfg.terminals == (
        TerminalConfig(
            name="terminal1",
            url="tcp://127.0.0.1:20007",
            protocol="zvt",
            options=ZvtOptions(password="123456"),
            currency="EUR",
            standby="terminal2",
            printer="p1",
        ),
        TerminalConfig(
            name="terminal2",
            url="serial:///dev/ttyUSB3",
            currency="EUR",
            printer="p1",
        ),
    )
    assert cfg.printers == chain.printers
    assert names(cfg.failover_order()) == ["terminal1", "terminal2"]
    assert cfg.printer_for("terminal2") == chain.printer("p1")


def test_override_terminals_use_the_top_level_currency(tmp_path: Path) -> None:
    cfg = with_overrides(
        load_config(write(tmp_path, 'currency = "CHF"\n')), terminals=["tcp://h:1"]
    )
    assert cfg.terminal("terminal1").currency == "CHF"
    assert cfg.terminal("terminal1").printer is None


def test_printer_urls_replace_the_configured_printers(chain: Config) -> None:
    cfg = with_overrides(chain, printers=["usb://04b8:0202", "tcp://192.168.1.60:9100"])
    assert cfg.printers == (
        PrinterConfig(name="printer1", url="usb://04b8:0202"),
        PrinterConfig(name="printer2", url="tcp://192.168.1.60:9100"),
    )
    # the configured terminals keep their failover but print where the person said
    assert names(cfg.failover_order()) == names(chain.failover_order())
    assert all(cfg.printer_for(t.name) == cfg.printers[0] for t in cfg.terminals)


def test_both_overrides_together(chain: Config, tmp_path: Path) -> None:
    cfg = with_overrides(
        chain, state_dir=tmp_path, terminals=["tcp://h:9"], printers=["serial:///dev/ttyS1"]
    )
    assert cfg.state_dir == tmp_path
    assert cfg.terminal("terminal1").printer == "printer1"
    assert cfg.printer_for("terminal1") == PrinterConfig("printer1", "serial:///dev/ttyS1")
    assert cfg.source == chain.source and cfg.receipt == chain.receipt


def test_bad_override_urls_name_the_flag(chain: Config) -> None:
    with pytest.raises(ConfigError) as info:
        with_overrides(chain, terminals=["tcp://ok:1", "ftp://x"], printers=["usb://nope"])
    message = str(info.value)
    assert message.splitlines()[0].startswith("--terminal: ftp://x: unknown scheme 'ftp'")
    assert message.splitlines()[1].startswith("--printer: usb://nope: ")
    assert len(info.value.problems) == 2


# -- a token others can read -------------------------------------------------------------

TOKEN = '[service]\ntoken = "s3cret-token-0123456789"\n'


def test_a_token_others_can_read_draws_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, TOKEN)
    path.chmod(0o644)
    assert load_config(path).warnings == (
        f"{path}: mode 0644 lets every user of this machine read service.token; chmod 600 "
        f"{path} (or 640 with group posdriver, as docs/install.md sets it up for the service)",
    )
    path.chmod(0o600)
    assert load_config(path).warnings == ()
    path.chmod(0o640)  # group: the file's own (root's, here), not the service's
    group = grp.getgrgid(path.stat().st_gid).gr_name
    if group != "posdriver":
        assert load_config(path).warnings == (
            f"{path}: mode 0640 lets group {group} read service.token; chmod 600 {path}, "
            "or give the file group posdriver (docs/install.md)",
        )
    try:
        service_group = grp.getgrnam("posdriver").gr_gid
    except KeyError:
        return  # no such group on this machine: the install's 0640 case is not shown
    os.chown(path, -1, service_group)
    assert load_config(path).warnings == ()


def test_a_file_without_a_token_may_be_read_by_others(tmp_path: Path) -> None:
    path = write(tmp_path, "[receipt]\ncolumns = 42\n")
    path.chmod(0o644)
    assert load_config(path).warnings == ()


def test_config_check_prints_the_warning_and_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from posdriver.cli import main

    path = write(tmp_path, TOKEN)
    path.chmod(0o604)
    assert main(["config", "check", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == f"warning: {path}: mode 0604 lets every user of this machine read " + (
        f"service.token; chmod 600 {path} (or 640 with group posdriver, as docs/install.md "
        "sets it up for the service)\n"
    )
    assert out.startswith(f"configuration OK: {path}")
    assert main(["config", "check", "--config", str(path), "--json"]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out)["warnings"] == [err.removeprefix("warning: ").rstrip("\n")]
