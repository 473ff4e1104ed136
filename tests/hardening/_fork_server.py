"""Run a child script in a fresh process without paying for TensorFlow's import each time.

A kill-point test runs the same small script (import Keras, save, die at step k) once per step k; a new
interpreter spends ~5 s importing TensorFlow before the first step. :class:`ForkServer` starts one
server process that imports the heavy modules once and then, per request, forks a child that runs the
script and ends however the script ends it (``os._exit``, ``SIGKILL``, or a normal return). Each run is
still a process of its own whose death nothing cleans up after.

Forking is safe only while the server has one thread: the server checks that before every fork (TensorFlow
starts its thread pools with its first operation, which only the children run; OpenBLAS's pool is set to
one thread) and refuses otherwise. Where there is no ``os.fork`` or ``/proc`` to count threads, each run
is a fresh interpreter as before.

Usage::

    with ForkServer(["keras", "netform.saving"], workdir) as server:
        done = server.run(SCRIPT, ["arg1", "arg2"], timeout=300)  # a subprocess.CompletedProcess
        running = server.start(SCRIPT, ["arg1"])  # returns at once: running.poll(), running.wait(timeout)
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]

SERVER = textwrap.dedent("""
    import importlib, json, os, sys, traceback
    for name in sys.argv[1:]:
        importlib.import_module(name)
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        threads = len(os.listdir("/proc/self/task"))
        if threads != 1:
            sys.stdout.write(json.dumps({"error": f"the server has {threads} threads: no fork"}) + "\\n")
            sys.stdout.flush()
            continue
        pid = os.fork()
        if pid == 0:  # the child: its own output files, the script, then its end
            code = 1
            try:
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
                    os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
                sys.argv = ["-c", *request["argv"]]
                exec(compile(request["code"], "<child>", "exec"), {"__name__": "__main__"})
                code = 0
            except SystemExit as end:
                code = end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
            except BaseException:
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\\n")
        sys.stdout.flush()
""")


class ForkServer:
    """One process that imports ``modules`` once and forks a child per :meth:`run`."""

    def __init__(self, modules: list[str], workdir: Path, *, start_timeout: float = 300) -> None:
        self._modules = modules
        self._workdir = workdir
        self._runs = 0
        self._env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
        self._server: subprocess.Popen[str] | None = None
        if not hasattr(os, "fork") or not os.path.isdir("/proc/self/task"):
            return  # each run is a fresh interpreter
        workdir.mkdir(parents=True, exist_ok=True)
        self._server_err = workdir / "server.stderr"
        with open(self._server_err, "w") as err:
            self._server = subprocess.Popen(
                [sys.executable, "-c", SERVER, *modules],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                # numpy's OpenBLAS starts a thread per core at import; one keeps the server single-threaded
                env={**self._env, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
                start_new_session=True,  # its children too go on a timeout: one process group
            )
        if self._reply(start_timeout) != "ready":
            raise RuntimeError(f"the fork server did not start: {self._server_err.read_text()[-2000:]}")

    def run(self, code: str, argv: list[str], *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``code`` as ``python -c code *argv`` would, in a forked child; its exit code, stdout and stderr."""
        return self.start(code, argv).wait(timeout)

    def start(self, code: str, argv: list[str]) -> Running:
        """Start ``code`` in a forked child and return at once; one child at a time."""
        args = [sys.executable, "-c", code, *argv]
        if self._server is None:
            return Running(
                self,
                args,
                subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self._env),
            )
        self._runs += 1
        out, err = self._workdir / f"run{self._runs}.stdout", self._workdir / f"run{self._runs}.stderr"
        assert self._server.stdin is not None
        request = {"code": code, "argv": argv, "stdout": str(out), "stderr": str(err)}
        self._server.stdin.write(json.dumps(request) + "\n")
        self._server.stdin.flush()
        return Running(self, args, None, out, err)

    def _ready(self) -> bool:
        assert self._server is not None and self._server.stdout is not None
        return bool(select.select([self._server.stdout], [], [], 0)[0])

    def _reply(self, timeout: float) -> str:
        assert self._server is not None and self._server.stdout is not None
        ready, _, _ = select.select([self._server.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise subprocess.TimeoutExpired(self._server.args, timeout)
        line = self._server.stdout.readline()
        if not line:
            self._server.wait()
            raise RuntimeError(
                f"the fork server ended ({self._server.returncode}): {self._server_err.read_text()[-2000:]}"
            )
        return line.strip()

    def close(self) -> None:
        """End the server and whatever child it still runs."""
        if self._server is None or self._server.poll() is not None:
            return
        try:
            os.killpg(self._server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._server.wait()
        for pipe in (self._server.stdin, self._server.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class Running:
    """A child :meth:`ForkServer.start` started."""

    def __init__(
        self,
        server: ForkServer,
        args: list[str],
        process: subprocess.Popen[str] | None,
        out: Path | None = None,
        err: Path | None = None,
    ) -> None:
        self._server, self._args, self._process, self._out, self._err = server, args, process, out, err
        self._result: subprocess.CompletedProcess[str] | None = None

    def poll(self) -> int | None:
        """The child's exit code once it has ended, else None."""
        if self._result is None and (self._process.poll() is not None if self._process else self._server._ready()):
            self.wait(0)
        return None if self._result is None else self._result.returncode

    def wait(self, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Its exit code, stdout and stderr once it has ended (:class:`subprocess.TimeoutExpired` after ``timeout``)."""
        if self._result is not None:
            return self._result
        if self._process is not None:
            out, err = self._process.communicate(timeout=timeout)
            self._result = subprocess.CompletedProcess(self._args, self._process.returncode, out, err)
            return self._result
        assert self._out is not None and self._err is not None
        reply = json.loads(self._server._reply(timeout))
        if "error" in reply:
            raise RuntimeError(reply["error"])
        self._result = subprocess.CompletedProcess(
            self._args, reply["returncode"], self._out.read_text(), self._err.read_text()
        )
        return self._result
