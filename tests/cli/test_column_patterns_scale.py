"""Column choices over a wide CSV are linear in its columns.

``--x 'c*,c*'`` over 80,000 columns took 30 s of CPU and ``--x 'c1*,c2*'`` over 1,000,000 did not end in 7
minutes: each pattern's matches were checked against a list of the columns already chosen. The work below
(400,000 columns, two overlapping patterns and a repeated name) was days of comparisons then.
"""

from __future__ import annotations

import multiprocessing

import numpy as np

from netform.cli._columns import _columns, parse_choices
from netform.cli._data_files import DataFile


def _choose(columns: int, text: str) -> list[str]:
    data = DataFile("wide.csv", {f"c{i}": np.zeros(1, "float32") for i in range(columns)})
    return _columns(data, parse_choices([text], "--x")[0], "--x")


def _worker(queue: multiprocessing.Queue) -> None:
    chosen = _choose(400_000, "c*,c1*,c5,c*")
    queue.put((len(chosen), chosen[:3], chosen[-1]))


def test_overlapping_patterns_over_many_columns_end():
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    worker = context.Process(target=_worker, args=(queue,))
    worker.start()
    worker.join(120)  # (far more than it takes; a quadratic walk ran for days)
    ended = not worker.is_alive()
    if not ended:
        worker.kill()
        worker.join()
    assert ended, "choosing the columns did not end"
    assert queue.get(timeout=10) == (400_000, ["c0", "c1", "c2"], "c399999")


def test_each_column_once_in_the_order_first_named():
    assert _choose(12, "c1*,c0,c1,c*") == ["c1", "c10", "c11", "c0", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"]
