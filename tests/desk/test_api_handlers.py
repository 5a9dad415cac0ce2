"""The API's handlers over the daemon's desk answer as they did before it: the order in
which a request's faults are found is part of the answer."""

from __future__ import annotations

from tests.support.served import Served
from tests.support.timing import wait_until


def test_a_reprint_while_the_original_waits_answers_with_it_before_reading_the_operator(
    served: Served,
) -> None:
    """The operator is read only when a copy is queued: while the original waits for
    paper, the answer is that job (202), whatever the operator field holds."""
    served.fault("printer", "paper_out")
    wait_until(lambda: served.get("/v1/devices")[1][0]["paper"] == "out", 10, "paper out")
    sale = served.sale("6.00")
    served.await_state(sale, "approved", 20, "the sale approved")
    status, answer = served.post(f"/v1/operations/{sale}/reprint", {"operator": "   "})
    assert status == 202, answer
    assert answer["reprint"] is False and answer["job"]["purpose"] == "original"
    served.fault("printer", "paper_out", False)
    wait_until(lambda: served.get(f"/v1/print-jobs/{answer['job']['id']}")[1]["state"] == "done")
    status, answer = served.post(f"/v1/operations/{sale}/reprint", {"operator": "   "})
    assert status == 400 and answer["error"] == "operator must not be empty"
