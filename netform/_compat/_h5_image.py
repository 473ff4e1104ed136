"""Keras's ``.weights.h5`` layout written into memory instead of a file on disk.

``keras.Model.save_weights`` (and ``keras.saving.save_weights``) take only a
path ending in ``.weights.h5`` and let HDF5 write it there. HDF5 meeting a full
disk or a file-size limit can crash the process (SIGSEGV), so netform builds
the whole file image in memory and writes its bytes with plain Python writes,
where a full disk is a clean ``OSError``. No public API writes the weights
layout to a file object, so this wraps the two private names Keras's own
``save_weights_only`` uses.
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["weights_h5_image"]


def weights_h5_image(model: Any) -> io.BytesIO:
    """The bytes of ``model.save_weights("x.weights.h5")``, built in memory.

    Args:
        model: A built Keras model.

    Returns:
        A BytesIO holding the HDF5 image, open for further edits with h5py.
    """
    # keras.src.saving.saving_lib.H5IOStore and _save_state: the body of Keras's
    # save_weights_only, which accepts only a path; H5IOStore also takes a file object.
    from keras.src.saving import saving_lib

    image = io.BytesIO()
    store = saving_lib.H5IOStore(image, mode="w")
    try:
        saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    finally:
        store.close()
    return image
