"""Image worker processes that inherit none of the server's secrets.

Image decoders parse hostile input; a worker that a crafted image took over must find
nothing worth taking. A spawned worker normally inherits the server's whole environment
(``FACEKEEP_KEK``, ``FACEKEEP_PKCS11_PIN``, ``FACEKEEP_TRANSIT_TOKEN``, the metrics
token...) and would be handed whatever its initialiser is given. Here workers start with
an environment of a few harmless variables only (:data:`KEPT`), and their initialiser
receives the image limits and the engine name, nothing else.

:class:`CleanSpawnContext` is multiprocessing's "spawn" start method with that one
change: the child is started by :class:`subprocess.Popen` with an explicit ``env``
(multiprocessing itself has no way to pass one).
"""

from __future__ import annotations

import io
import os
import subprocess
import threading
from collections.abc import Mapping
from multiprocessing import context, popen_spawn_posix, reduction, spawn, util
from typing import Any

#: The only variables a worker sees: where programs and temporary files are, the
#: locale, and thread counts of the numeric libraries.
KEPT = frozenset(
    {
        "PATH",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TMPDIR",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "PYTHONHASHSEED",
        "PYTHONPYCACHEPREFIX",
    }
)

# Popen objects of the workers started: kept (a handful per server) so that subprocess
# never reaps a worker behind multiprocessing's back; multiprocessing waits for them.
_LAUNCHED: list[subprocess.Popen[bytes]] = []
_LOCK = threading.Lock()


def clean_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a worker starts with."""
    source = os.environ if environ is None else environ
    return {name: value for name, value in source.items() if name in KEPT}


class _CleanPopen(popen_spawn_posix.Popen):
    """``popen_spawn_posix.Popen`` whose child starts with :func:`clean_environment`.

    ``_launch`` follows CPython's (3.11-3.13) step for step; only the final spawn call
    differs."""

    _fds: list[int]  # set by the base class before it calls _launch

    def _launch(self, process_obj: Any) -> None:
        from multiprocessing import resource_tracker

        tracker_fd = resource_tracker.getfd()
        assert tracker_fd is not None  # the tracker runs once getfd returned
        self._fds.append(tracker_fd)
        prep_data = spawn.get_preparation_data(process_obj._name)
        fp = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, fp)
            reduction.dump(process_obj, fp)
        finally:
            context.set_spawning_popen(None)
        parent_r = child_w = child_r = parent_w = None
        try:
            parent_r, child_w = os.pipe()
            child_r, parent_w = os.pipe()
            cmd = spawn.get_command_line(tracker_fd=tracker_fd, pipe_handle=child_r)
            self._fds.extend([child_r, child_w])
            child = subprocess.Popen(  # noqa: S603 - our own interpreter, our own arguments
                cmd,
                executable=spawn.get_executable(),
                pass_fds=sorted(set(self._fds)),
                env=clean_environment(),
            )
            with _LOCK:
                _LAUNCHED.append(child)  # never polled here: multiprocessing reaps it
            self.pid = child.pid
            self.sentinel = parent_r
            with open(parent_w, "wb", closefd=False) as f:
                f.write(fp.getbuffer())
        finally:
            fds_to_close = [fd for fd in (parent_r, parent_w) if fd is not None]
            self.finalizer = util.Finalize(self, util.close_fds, fds_to_close)  # type: ignore[attr-defined]
            for fd in (child_r, child_w):
                if fd is not None:
                    os.close(fd)


class _CleanProcess(context.SpawnProcess):
    _start_method = "spawn"

    @staticmethod
    def _Popen(process_obj: Any) -> _CleanPopen:
        return _CleanPopen(process_obj)


class CleanSpawnContext(context.SpawnContext):
    """The "spawn" start method, children without the parent's environment."""

    Process = _CleanProcess
