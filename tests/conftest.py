"""Shared fixtures: emulated devices on real OS interfaces, cleaned up after each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# fixtures more than one test package uses: a tmpfs, a running `posdriver serve --emulate`
pytest_plugins = ["tests.support.mounts", "tests.support.served"]

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def tmp_link_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield str(tmp_path_factory.mktemp("links"))
