from __future__ import annotations

from collections.abc import Iterator

import pytest

from posdriver_emulator.controller import Controller


@pytest.fixture(params=["pty", "tcp", "usb"])
def emu(request: pytest.FixtureRequest, tmp_path) -> Iterator[Controller]:
    """An emulated printer on each kind of link."""
    with Controller.printer(link=request.param, link_dir=tmp_path, seed=7) as controller:
        yield controller


@pytest.fixture
def pty_emu(tmp_path) -> Iterator[Controller]:
    with Controller.printer(link="pty", link_dir=tmp_path, seed=7) as controller:
        yield controller
