"""Tables generated from Keras stay in sync with the installed Keras."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def test_keras_args_table_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_keras_args", ROOT / "scripts" / "gen_keras_args.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (ROOT / "netform" / "spec" / "_keras_args.py").read_text()
    assert current == module.render(), "run `python scripts/gen_keras_args.py` to regenerate the table"
