"""A model command run where no temporary folder is writable is a clean error, not "a bug in netform".

TensorFlow asks Python's tempfile for a folder as it is imported; under ``ulimit -f 0`` (or a full disk)
no folder takes a byte and tempfile raises FileNotFoundError, which the CLI reported as an unexpected error
(exit 70). It is now a SaveError-coded refusal (exit 5) naming the cause and the fixes.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

SPEC = "netform: 1\nname: m\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: 2}\n"


def _no_file_bytes() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="no file-size limit on this system")
def test_no_writable_temporary_folder_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(SPEC)
    script = Path(sys.executable).with_name("netform")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "netform.cli"]
    args = ["build", "m.yaml", "-o", "b.keras"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TMPDIR=str(tmp_path))
    done = subprocess.run(
        [*base, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, preexec_fn=_no_file_bytes
    )
    assert done.returncode == 5, done.stderr
    assert "no temporary folder is writable" in done.stderr and "TMPDIR" in done.stderr
    assert "bug in netform" not in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]
