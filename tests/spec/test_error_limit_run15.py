"""A spec of tens of thousands of errors stops being checked at :attr:`SpecError.ERROR_LIMIT` (10,000).

5,150 Dense layers with 14 unknown fields each (a 735 KB spec) made 72,103 located diagnostics and took
2.4-3.3 s of CPU in ``validate``, over the 2 s a spec under 1 MB may take; nobody reads past the first hundred.
Checking now stops at the layer or node where the count reaches the limit: the errors found are kept, and a
last diagnostic says where checking stopped; ``str()`` says "at least N errors found", ``validate --format
json`` gives ``checking_stopped: true``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import netform as nf
from netform.cli import main
from netform.errors import SpecError
from tests._budget import assert_cpu_under

HEAD = "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n"


def _many_unknown(layers: int = 5150, fields: int = 14) -> str:
    extra = ", ".join(f"z{j}: 1" for j in range(fields))
    return HEAD + "".join(f"  - {{type: Dense, units: 2, name: d{i}, {extra}}}\n" for i in range(layers))


def test_checking_stops_at_the_error_limit_and_says_where() -> None:
    text = _many_unknown()
    assert len(text) < 1_000_000
    with pytest.raises(SpecError) as raised:
        nf.load_spec(text)
    err = raised.value
    assert err.stopped
    found = err.diagnostics[:-1]
    assert SpecError.ERROR_LIMIT <= len(found) < SpecError.ERROR_LIMIT + 14
    last = err.diagnostics[-1]
    assert last.path == ("layers", 715) and last.line == 720
    assert last.message.startswith(f"checking stopped after {len(found):,} errors")
    lines = str(err).splitlines()
    assert lines[-3].endswith("fix the errors above and validate again")
    assert lines[-2:] == [f"… and {len(found) - 100:,} more errors", f"at least {len(found):,} errors found."]
    assert_cpu_under(lambda: pytest.raises(SpecError, nf.load_spec, text), 1.5, "5,150 layers of 14 unknown fields")


def test_fewer_errors_than_the_limit_are_all_checked() -> None:
    with pytest.raises(SpecError) as raised:
        nf.load_spec(_many_unknown(layers=700))
    assert not raised.value.stopped and len(raised.value.diagnostics) == 700 * 14
    assert str(raised.value).splitlines()[-1] == "9,800 errors found."


def test_a_graph_spec_stops_at_its_node_too() -> None:
    extra = ", ".join(f"z{j}: 1" for j in range(14))
    nodes = "".join(f"  n{i}: {{type: Dense, units: 2, in: x, {extra}}}\n" for i in range(800))
    text = "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n" + nodes + "outputs: [n0]\n"
    with pytest.raises(SpecError) as raised:
        nf.load_spec(text)
    assert raised.value.stopped and raised.value.diagnostics[-1].path == ("nodes", "n715")


def test_validate_json_says_checking_stopped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(_many_unknown())
    good = Path(__file__).resolve().parents[2] / "models" / "mlp.yaml"
    assert main(["validate", "--format", "json", str(bad), str(good)]) == 1
    first, second = json.loads(capsys.readouterr().out)["files"]
    assert first["checking_stopped"] is True
    assert len(first["errors"]) == 101 and first["errors"][-1]["message"].startswith("checking stopped after")
    assert first["errors_not_listed"] == first["errors_total"] - 100 and first["errors_total"] >= 10_000
    assert (second["valid"], second["checking_stopped"]) == (True, False)
