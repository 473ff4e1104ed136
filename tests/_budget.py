"""Time bounds for the tests that guard against denial-of-service blowups.

Speed targets are checked by the benchmarks under ``bench/``; a test here only makes sure that a hostile input
which used to take 10-900 s is refused in a few seconds. Each bound sits a few times above the normal cost and
far under the old blowup, and is measured so that neither the order of the tests nor the machine's load fails
a correct build:

- CPU time (``time.process_time``), not the wall clock, wherever the work is this process's own;
- after one untimed call of the same (idempotent) work, so that the modules it imports on first use (Keras,
  TensorFlow, h5py, ...) and the caches it fills are not counted;
- over the bound, measured once more and the lower of the two kept: a pause from elsewhere (another process,
  the cycle collector) does not come back, a blowup does.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def cpu_seconds(fn: Callable[[], object], *, warm: bool = True, clock: Callable[[], float] = time.process_time) -> float:
    """Seconds of ``clock`` (this process's CPU time unless told) that one call of ``fn`` takes.

    With ``warm``, ``fn`` is called once untimed first: only for work that does the same each time (refusing a
    hostile input does), and that may run its own asserts each time.
    """
    if warm:
        fn()
    start = clock()
    fn()
    return clock() - start


def assert_seconds_under(
    seconds: float, limit: float, what: str, *, again: Callable[[], float] | None = None, unit: str = "s of CPU"
) -> float:
    """Check a measured ``seconds`` against ``limit``; over it, measure ``again`` (if given) and keep the lower.

    ``what`` names what was measured, for the failure message. Returns the seconds kept.
    """
    if seconds >= limit and again is not None:
        seconds = min(seconds, again())
    assert seconds < limit, f"{what}: {seconds:.2f} {unit}, over the bound of {limit:g} s" + (
        " (the lower of two measurements)" if again is not None else ""
    )
    return seconds


def assert_cpu_under(
    fn: Callable[[], object],
    limit: float,
    what: str,
    *,
    warm: bool = True,
    clock: Callable[[], float] = time.process_time,
) -> float:
    """Check that one call of ``fn`` takes under ``limit`` seconds of CPU (of ``clock`` if given).

    With ``warm`` (see :func:`cpu_seconds`) the call is measured after an untimed one; over the limit, it is
    measured once more and the lower of the two kept. The failure message gives the seconds and ``what``.
    Returns the seconds kept.
    """
    unit = "s of CPU" if clock is time.process_time else "s"
    seconds = cpu_seconds(fn, warm=warm, clock=clock)
    return assert_seconds_under(seconds, limit, what, again=lambda: cpu_seconds(fn, warm=False, clock=clock), unit=unit)
