"""A foreign SavedModel whose ``saved_model.pb`` is mostly a hole is refused before it is read.

``truncate -s 1073741823 saved_model.pb`` (just under the 1 GiB limit, 12 KB on disk) made ``inspect``
read the whole gigabyte into memory (1.07 GB) only to fail to parse it. netform's own record files were
already refused when sparse; the graph now is too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import netform as nf
from netform.errors import FormatError


def test_a_sparse_graph_is_refused_unread(tmp_path: Path) -> None:
    import tensorflow as tf

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2])])
        def f(self, x):
            return x * 2

    folder = tmp_path / "sm"
    tf.saved_model.save(Module(), str(folder))
    graph = folder / "saved_model.pb"
    os.truncate(graph, 512 * 2**20)
    if os.stat(graph).st_blocks * 512 * 8 >= graph.stat().st_size:
        pytest.skip("this file system does not keep holes")
    with pytest.raises(FormatError, match="sparse file"):
        nf.inspect(str(folder))
