"""The pipeline in a child process that keeps the models warm between notes.

A note past its time limit is stopped for real: the child is killed, a new one takes its place (it loads the models
again on its next note, a few seconds), and the worker takes the next note at once. A child that crashes (killed
for memory, a fault in native code) is replaced the same way and the note fails with a reason.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.pipeline import PipelineOptions, PipelineResult

if TYPE_CHECKING:
    from ml.loader import ModelCache
    from ml.registry import Registry

log = logging.getLogger(__name__)
POLL_S = 0.1


class PipelineTimedOut(Exception):
    """The pipeline ran past the time allowed; its process was killed."""


class PipelineCrashed(Exception):
    """The pipeline's process died while working on a note."""


@dataclass(frozen=True)
class ModelSpec:
    """What the child needs to build its model cache (picklable)."""

    cache_dir: Path
    weights_dirs: tuple[Path, ...]
    threads: int
    compute_type: str
    nice: int = 0  # added to the child's niceness: the pipeline yields the CPU to interactive work

    def registry(self) -> Registry:
        """The model versions this spec's folders hold (and how to fetch the others)."""
        from ml.registry import Registry

        return Registry(cache_dir=self.cache_dir, weights_dirs=self.weights_dirs)

    def cache(self) -> ModelCache:
        """The model cache this spec describes (nothing is loaded until asked)."""
        from ml.loader import ModelCache

        return ModelCache(self.registry(), threads=self.threads, compute_type=self.compute_type)


def _die_with_parent(parent: int) -> None:
    """End this process when the worker that started it ends, even if the worker was killed: on Linux the kernel
    sends the signal (``PR_SET_PDEATHSIG``); elsewhere a thread watches the parent's pid."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(1, signal.SIGKILL) == 0 and os.getppid() == parent:  # 1 = PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _serve(conn: Connection, spec: ModelSpec, parent: int) -> None:
    """The child's loop: load models, process notes, report stages; until told to stop or the parent goes."""
    _die_with_parent(parent)
    if spec.nice:
        os.nice(spec.nice)
    from ml.pipeline import Pipeline

    cache = spec.cache()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the worker is gone
            return
        kind, *args = request
        if kind == "stop":
            return
        try:
            denoiser, whisper = cache.denoiser(args[0]), cache.transcriber(args[1])
            conn.send(("loaded", cache.loaded()))
            if kind == "load":
                conn.send(("result", None))
                continue
            data, options = args[2], args[3]
            pipeline = Pipeline(denoiser, whisper)
            result = pipeline.process(data, options, on_stage=lambda stage: conn.send(("stage", stage)))
            conn.send(("result", result))
        except (BrokenPipeError, EOFError):  # the worker is gone
            return
        except Exception as exc:  # sent back to be raised in the worker, where errors are handled
            try:
                conn.send(("error", exc))
            except BrokenPipeError:
                return
            except Exception:  # an exception that does not pickle
                conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


class PipelineRunner:
    """One child process running the pipeline, one call at a time (a worker handles one note at a time)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.loaded: dict[str, str | None] = {"denoiser": None, "whisper": None}
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._busy = False

    @property
    def pid(self) -> int | None:
        """The child's process id, while there is one."""
        return self._process.pid if self._process is not None else None

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # no fork: the worker has threads and an event loop
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, self.spec, os.getpid()), name="voicebot-pipeline", daemon=True
        )
        self._process.start()
        child.close()
        self._conn = parent
        log.info("pipeline process %s started", self._process.pid)

    async def load(self, denoiser: str, whisper: str) -> None:
        """Load (or switch to) these versions in the child now, not on the next note."""
        await self._call(("load", denoiser, whisper), timeout_s=None)

    async def process(
        self,
        data: bytes | str,
        options: PipelineOptions,
        *,
        denoiser: str,
        whisper: str,
        timeout_s: float,
        on_stage: Any = None,
    ) -> PipelineResult:
        """Run the pipeline on one note (its bytes, or a path the child reads as a stream); ``PipelineTimedOut``
        after ``timeout_s`` seconds (the child is killed)."""
        return await self._call(("process", denoiser, whisper, data, options), timeout_s=timeout_s, on_stage=on_stage)

    async def _call(self, request: tuple, *, timeout_s: float | None, on_stage: Any = None) -> Any:
        if self._busy:
            raise RuntimeError("the pipeline process serves one call at a time")
        self._busy = True
        try:
            if self._process is None or not self._process.is_alive():
                self._start()
            conn = self._conn
            if conn is None:
                raise RuntimeError("the pipeline process has no connection")
            conn.send(request)
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    self.kill()
                    raise PipelineTimedOut(f"processing took longer than {timeout_s:.0f} s")
                if not await asyncio.to_thread(conn.poll, POLL_S):
                    if self._process is not None and not self._process.is_alive():
                        code = self._process.exitcode
                        self.kill()
                        raise PipelineCrashed(f"the pipeline process died (exit code {code})")
                    continue
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError) as exc:
                    self.kill()
                    raise PipelineCrashed("the pipeline process died") from exc
                if kind == "stage" and on_stage is not None:
                    on_stage(payload)
                elif kind == "loaded":
                    self.loaded = payload
                elif kind == "result":
                    return payload
                elif kind == "error":
                    raise payload
        finally:
            self._busy = False

    def kill(self) -> None:
        """Stop the child at once; the next call starts a new one."""
        if self._process is not None:
            self._process.kill()
            self._process.join(10)
            log.warning("pipeline process %s killed", self._process.pid)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None
        self.loaded = {"denoiser": None, "whisper": None}

    def close(self) -> None:
        """Ask the child to stop, and make sure it does."""
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            try:
                self._conn.send(("stop",))
                self._process.join(5)
            except (OSError, ValueError):
                pass
        if self._process is not None and self._process.is_alive():
            self.kill()
        elif self._conn is not None:
            self._conn.close()
        self._process = self._conn = None
