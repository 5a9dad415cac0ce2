"""The terminal registry: protocols found by name, their own keys in a terminal's table
checked by their own model, their capabilities asked for; and the daemon, the cashier and
the config loader running a protocol that is not ZVT without naming it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from posdriver.config import ConfigError, TerminalConfig, load_config, with_overrides
from posdriver.terminal import registry
from posdriver.terminal.protocol import Capability
from tests.support import model_terminal as model
from tests.support.timing import wait_until


@pytest.fixture
def models() -> Iterator[None]:
    model.install()
    yield
    model.uninstall()


def test_the_default_protocol_is_the_first_built_in_one() -> None:
    assert registry.names()[0] == registry.DEFAULT
    assert registry.get(registry.DEFAULT).name == registry.DEFAULT
    assert TerminalConfig(name="t", url="tcp://h:1").protocol == registry.DEFAULT


def test_an_unknown_protocol_names_the_known_ones() -> None:
    with pytest.raises(registry.UnknownProtocol, match=r"'zvx'; did you mean 'zvt'\?"):
        registry.get("zvx")


def test_a_registered_protocol_is_known_and_forgotten(models: None) -> None:
    assert {"model", "model-minimal"} <= set(registry.names())
    assert registry.get("model").has(Capability.REPEAT_RECEIPT)
    assert not registry.get("model-minimal").has(Capability.REPEAT_RECEIPT)
    model.uninstall()
    assert "model" not in registry.names()
    model.install()


def test_a_terminal_of_another_protocol_loads_and_its_keys_are_its_own(
    models: None, tmp_path: Path
) -> None:
    path = tmp_path / "posdriver.toml"
    path.write_text('[devices.desk]\nkind = "terminal"\nurl = "tcp://h:1"\nprotocol = "model"\n')
    desk = load_config(path).terminal("desk")
    assert desk.protocol == "model" and isinstance(desk.options, model.ModelOptions)
    # a key of another protocol is not this one's
    path.write_text(
        '[devices.desk]\nkind = "terminal"\nurl = "tcp://h:1"\nprotocol = "model"\n'
        'password = "123456"\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert f"{path}: devices.desk.password: protocol 'model' has no key 'password'" in str(
        refused.value
    )


def test_the_daemon_runs_a_protocol_without_a_diagnosis(models: None, tmp_path: Path) -> None:
    """No connectivity check is run, shown or exported for a terminal whose protocol
    cannot dial its acquirer (a check it cannot have must not sit "unknown" for ever),
    and a sale through the API goes through the registry to the model terminal."""
    from posdriver.service.daemon import Daemon

    device = model.new_device(repeat_receipt=False)
    path = tmp_path / "posdriver.toml"
    path.write_text(
        f'[devices.desk]\nkind = "terminal"\nurl = "{device.url}"\nprotocol = "model-minimal"\n'
        "poll_interval = 1\n"
    )
    config = with_overrides(load_config(path), state_dir=tmp_path / "state")
    daemon = Daemon(config, api="127.0.0.1:0", metrics="127.0.0.1:0", out=lambda _l: None)
    daemon.start()
    try:
        api = daemon.bound["api"]

        def get(url: str) -> bytes:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return bytes(answer.read())

        request = urllib.request.Request(
            api + "/v1/operations",
            data=json.dumps({"kind": "sale", "amount": "9.50"}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            op = json.loads(answer.read())["operation"]
        done = json.loads(get(f"{api}/v1/operations/{op['id']}?wait=20"))
        assert done["operation"]["state"] == "approved"
        assert len(device.charged()) == 1
        health = json.loads(get(api + "/v1/devices"))
        assert set(health[0]["checks"]) == {"link", "terminal_state"}
        page = get(daemon.bound["metrics"]).decode()
        assert 'device="desk",check="link"' in page
        assert 'check="connectivity"' not in page
        # a deposit is refused up front: this protocol has none
        request = urllib.request.Request(
            api + "/v1/operations",
            data=json.dumps({"kind": "pre_auth", "amount": "100.00"}).encode(),
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 409
        assert "has no pre authorisation" in json.loads(refused.value.read())["error"]
        wait_until(lambda: daemon.snapshot().devices[0].up, 10, "the model terminal up")
    finally:
        daemon.stop()


def test_only_the_zvt_package_and_its_registry_line_name_zvt() -> None:
    """Everything above the protocol is neutral: ZVT's name, in code, lives in its own
    package and in the one registry line that registers it (comments and docstrings may
    mention it as the example they are)."""
    import ast
    import io
    import tokenize

    root = Path(__file__).resolve().parents[2] / "posdriver"
    found = []
    for path in sorted(root.rglob("*.py")):
        if (root / "terminal" / "zvt") in path.parents:
            continue
        text = path.read_text(encoding="utf-8")
        docstrings = {
            node.body[0].value.lineno
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
            and isinstance(node.body[0].value.value, str)
        }
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE):
                continue
            if token.type == tokenize.STRING and token.start[0] in docstrings:
                continue
            if "zvt" in token.string.lower():
                found.append(f"{path.relative_to(root.parent)}: {token.string}")
    assert found == [
        'posdriver/terminal/registry.py: "zvt"',
        'posdriver/terminal/registry.py: "posdriver.terminal.zvt.protocol:PROTOCOL"',
    ]
