"""Layer schemas are built on first use, so reading a spec builds only the types it names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_only_the_layer_types_used_get_validators() -> None:
    code = (
        "import json\n"
        "from netform.spec import get_layer_spec, load_spec\n"
        "before = [get_layer_spec(t).__pydantic_complete__ for t in ('Dense', 'Conv3D', 'LSTM')]\n"
        "spec = load_spec({'netform': 1, 'name': 'm', 'kind': 'sequential', 'inputs': {'x': {'shape': [4]}},\n"
        "                  'layers': [{'type': 'Dense', 'units': 3}]})\n"
        "after = [get_layer_spec(t).__pydantic_complete__ for t in ('Dense', 'Conv3D', 'LSTM')]\n"
        "print(json.dumps([before, after, spec.name]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          check=True)
    before, after, name = json.loads(done.stdout.strip().splitlines()[-1])
    assert before == [False, False, False]
    assert after == [True, False, False]
    assert name == "m"
