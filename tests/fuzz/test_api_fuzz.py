"""A short, seeded run of the API fuzzing (the long run is ``python -m tests.fuzz.api``)
against a real ``posdriver serve --emulate``, with and without a ``[service] token``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.api import TOKEN, Hostile, daemon, fuzz_schema
from tests.support.served import Served

SEED = 20261207
EXAMPLES = 10  # per operation and generation mode (positive, negative)


@pytest.fixture(scope="module", params=[None, TOKEN], ids=["without-token", "with-token"])
def api(request: pytest.FixtureRequest) -> Iterator[tuple[Served, str | None]]:
    with daemon(request.param) as served:
        yield served, request.param


def test_schemathesis_finds_no_5xx_and_no_answer_off_the_document(
    api: tuple[Served, str | None],
) -> None:
    served, token = api
    tally = fuzz_schema(served, token, EXAMPLES, SEED)
    assert tally.requests > 200
    assert (tally.server_errors, tally.faults) == (0, [])


def test_hostile_requests_get_a_4xx_or_are_closed(api: tuple[Served, str | None]) -> None:
    served, token = api
    hostile = Hostile(served, token)
    for step in (hostile.tokens, hostile.bad_bodies, hostile.big_bodies, hostile.paths):
        step()
    hostile.headers()
    assert hostile.tally.faults == []
    assert served.process.poll() is None


def test_200_clients_at_once_get_answers_or_the_documented_full_house(
    api: tuple[Served, str | None],
) -> None:
    served, token = api
    hostile = Hostile(served, token)
    hostile.crowd(200, full_house_ok=True)
    assert hostile.tally.faults == []


def test_slow_clients_are_cut_off_in_time_and_others_are_served_meanwhile(
    api: tuple[Served, str | None],
) -> None:
    served, token = api
    hostile = Hostile(served, token)
    hostile.slow_clients()
    assert hostile.tally.faults == []


def test_200_clients_within_max_connections_are_all_answered() -> None:
    with daemon(None, max_connections=256) as served:
        hostile = Hostile(served, None)
        hostile.crowd(200)
        assert hostile.tally.faults == []
        assert hostile.tally.server_errors == 0
