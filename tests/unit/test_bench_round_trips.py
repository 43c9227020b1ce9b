"""The approval benchmark's round-trip count: requests that overlap in time are one round trip."""

from bench.processes import Hit
from bench.round_trips import FLOORS, sequential


def hit(arrived: float, answered: float, path: str = "/x") -> Hit:
    return Hit(arrived, "cloudflare", "GET", path, arrived, answered)


def test_calls_one_after_another_are_one_round_trip_each():
    assert sequential([hit(0, 1), hit(1.1, 2), hit(2.5, 3)]) == 3


def test_calls_made_at_once_are_one_round_trip():
    assert sequential([hit(0, 1), hit(0.01, 1.02), hit(0.02, 0.99), hit(1.1, 2)]) == 2


def test_a_slack_update_beside_the_operation_adds_no_round_trip():
    chain = [hit(0, 1), hit(1.1, 2), hit(2.1, 3)]
    beside = hit(0.5, 1.6, "/api/chat.update")  # spans the first two calls
    assert sequential([*chain, beside]) == 3


def test_no_calls_no_round_trips():
    assert sequential([]) == 0


def test_every_benchmarked_operation_has_a_floor_and_a_reason():
    assert set(FLOORS) == {"verify", "roll", "overlap", "revoke", "provision"}
    assert all(trips > 0 and len(why) > 20 for trips, why in FLOORS.values())
