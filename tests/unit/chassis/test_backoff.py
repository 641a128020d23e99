from eps_chassis.errors import TransientError
from eps_chassis.retry import Backoff, is_transient


def test_delays_grow_to_the_cap_with_jitter() -> None:
    backoff = Backoff(initial_s=0.1, max_s=2.0)
    delays = [backoff.next_delay() for _ in range(12)]
    assert 0.05 <= delays[0] <= 0.1
    assert all(d <= 2.0 for d in delays)
    assert all(d >= 1.0 for d in delays[6:])  # capped: between max/2 and max
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_classification() -> None:
    assert is_transient(TransientError())
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(ValueError())
