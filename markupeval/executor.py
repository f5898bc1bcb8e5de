"""Where chunk work runs: a local process pool (the default) or a Dask cluster, behind one seam.

The renderer's chunks (formulas in, images and statuses out) and the image-pair comparisons are
pure functions of their input, so the same job may run twice, anywhere, with the same result.
This module runs such jobs and owns what that takes:

* :class:`LocalExecutor`: ``concurrent.futures.ProcessPoolExecutor`` (one worker per CPU), or
  the calling process itself for one worker;
* :class:`DaskExecutor`: a ``dask.distributed`` cluster (``dask://HOST:PORT`` or
  ``$DASK_SCHEDULER_ADDRESS``); Dask retries a chunk whose worker died on another worker;
* :class:`ChunkRunner`: the driver loop over either, with a bounded number of chunks in flight
  (so results stream and memory stays flat), and the policy for chunks that keep killing
  workers: after the executor's own retries they are bisected until the formula that kills
  workers is alone, and that one gets ``poison(job, reason)`` (an ``error`` result) instead of
  hanging the job. Cancelling (Ctrl-C) cancels this run's work on the cluster.

Jobs carry their results back to the driver; nothing is written by workers, so the driver is the
single writer of the render cache.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, Protocol, TypeVar

from markupeval.errors import MarkupEvalError

log = logging.getLogger("markupeval")

J = TypeVar("J")
R = TypeVar("R")

#: Modules every local worker imports before its first job (forkserver preload).
_PRELOAD = ["markupeval.rendering.batch", "markupeval.images.compare"]


class ExecutorError(MarkupEvalError):
    """The executor cannot be reached or set up (bad address, no workers)."""


class WorkerLost(Exception):
    """A job's worker died (or the pool broke) before the job returned."""


def usable_cpus() -> int:
    """The CPUs this process may run on (a container or taskset may allow fewer than cpu_count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class Executor(Protocol):
    """What :class:`ChunkRunner` needs from an engine."""

    #: How many jobs run at once (processes, or the cluster's threads).
    parallelism: int
    #: ``local:N`` or ``dask://HOST:PORT``, for logs and errors.
    description: str
    #: Whether a worker may be another machine (the environment check and format building matter).
    remote: bool

    def submit(self, fn: Callable[[Any], Any], job: Any) -> Any: ...

    def wait_any(self, futures: list[Any], timeout: float | None = None) -> list[Any]: ...

    def result(self, future: Any) -> Any:
        """The future's result; raises :class:`WorkerLost` when its workers died."""
        ...

    def cancel(self, futures: list[Any]) -> None: ...

    def run_on_workers(self, fn: Callable[[], Any]) -> dict[str, Any]: ...

    def close(self) -> None: ...


class _DoneFuture:
    """The result of a job run in the calling process (one local worker)."""

    def __init__(self, fn: Callable[[Any], Any], job: Any) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        try:
            self.value = fn(job)
        except Exception as exc:  # re-raised by result(), as a pool's future would
            self.error = exc


class LocalExecutor:
    """A process pool on this machine; ``workers=1`` runs jobs in the calling process.

    Workers start from a fork server that has imported the renderer and the comparison code, so
    they start fast, share nothing with the driver's memory, and are safe to start while the
    progress bar's thread runs (forking a threaded process can deadlock the child).
    """

    remote = False

    def __init__(self, workers: int | None = None) -> None:
        self.parallelism = max(1, workers if workers is not None else usable_cpus())
        self.description = f"local:{self.parallelism}"
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            if "forkserver" in methods and sys.platform.startswith("linux"):
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(_PRELOAD)
            else:
                ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.parallelism, mp_context=ctx)
        return self._pool

    def submit(self, fn: Callable[[Any], Any], job: Any) -> Any:
        if self.parallelism == 1:
            return _DoneFuture(fn, job)
        try:
            pool = self._get_pool()
            future = pool.submit(fn, job)
        except BrokenProcessPool:
            self._discard_pool()
            pool = self._get_pool()
            future = pool.submit(fn, job)
        future.pool = pool  # a failure discards this pool only if it is still the current one
        return future

    def wait_any(self, futures: list[Any], timeout: float | None = None) -> list[Any]:
        done = [f for f in futures if isinstance(f, _DoneFuture)]
        if done:
            return done
        finished, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return list(finished)

    def result(self, future: Any) -> Any:
        if isinstance(future, _DoneFuture):
            if future.error is not None:
                raise future.error
            return future.value
        try:
            return future.result()
        except BrokenProcessPool as exc:
            # Every job in flight fails with the pool; a new pool serves the retries.
            if getattr(future, "pool", None) is self._pool:
                self._discard_pool()
            raise WorkerLost(f"a local worker process died ({exc})") from None

    def cancel(self, futures: list[Any]) -> None:
        for f in futures:
            if isinstance(f, Future):
                f.cancel()
        self._discard_pool(terminate=True)

    def run_on_workers(self, fn: Callable[[], Any]) -> dict[str, Any]:
        return {"local": fn()}  # the workers are this machine, started from this environment

    def _discard_pool(self, terminate: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if terminate:
            # A chunk runs for seconds; waiting for it after Ctrl-C is not wanted. The pool has no
            # public way to stop its processes before Python 3.14 (terminate_workers).
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
        pool.shutdown(wait=not terminate, cancel_futures=True)

    def close(self) -> None:
        self._discard_pool()


class DaskExecutor:
    """Jobs on a ``dask.distributed`` cluster (workers started with ``dask worker``).

    Each job is one Dask task (``pure=False``: a retry is a new task, never a cached one). Dask
    retries a task whose worker died, up to ``distributed.scheduler.allowed-failures`` times;
    after that it raises ``KilledWorker``, which becomes :class:`WorkerLost` here.
    """

    remote = True

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # declared as a dependency; only a broken install lacks it
            raise ExecutorError(f"--executor dask:// needs the 'distributed' package: {exc}") from None
        self.address = address
        self.description = f"dask://{address.split('://', 1)[-1]}"
        try:
            self.client = Client(address, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        nthreads = self.client.nthreads()
        if not nthreads:
            self.client.close()
            raise ExecutorError(f"the Dask scheduler at {address} has no workers; start some with `dask worker`")
        self.parallelism = sum(nthreads.values())

    def submit(self, fn: Callable[[Any], Any], job: Any) -> Any:
        return self.client.submit(fn, job, pure=False)

    def wait_any(self, futures: list[Any], timeout: float | None = None) -> list[Any]:
        from distributed import wait as dask_wait

        try:
            with self.client.as_current():  # this client, not a process-wide default one
                done, _ = dask_wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        return list(done)

    def result(self, future: Any) -> Any:
        from distributed import KilledWorker

        try:
            return future.result()
        except KilledWorker as exc:
            raise WorkerLost(str(exc)) from None
        finally:
            future.release()  # the worker may drop the result now: the driver has it

    def cancel(self, futures: list[Any]) -> None:
        if futures:
            self.client.cancel(futures, force=True)

    def run_on_workers(self, fn: Callable[[], Any]) -> dict[str, Any]:
        return self.client.run(fn)

    def nthreads(self) -> dict[str, int]:
        return self.client.nthreads()

    def close(self) -> None:
        self.client.close()


def make_executor(spec: "str | Executor | None" = None, workers: int | None = None) -> Executor:
    """An executor from ``--executor``: ``None``/``"local"`` (a process pool of ``workers``),
    ``"dask://HOST:PORT"`` (a cluster), or an executor passed through. Without a spec,
    ``$DASK_SCHEDULER_ADDRESS`` names a cluster. The driver shares one malloc arena from here
    on (:func:`markupeval.allocator.share_one_arena`: the executor's threads would fragment
    their own)."""
    from markupeval.allocator import share_one_arena

    share_one_arena()
    if spec is not None and not isinstance(spec, str):
        return spec
    if spec is None:
        env = os.environ.get("DASK_SCHEDULER_ADDRESS")
        spec = ("dask://" + env.split("://", 1)[-1]) if env else "local"
    if spec == "local":
        return LocalExecutor(workers)
    if spec.startswith("local:"):
        try:
            return LocalExecutor(int(spec.split(":", 1)[1]))
        except ValueError:
            raise ExecutorError(f"bad executor {spec!r}: expected local:N") from None
    if spec.startswith("dask://"):
        rest = spec[len("dask://") :]
        if not rest:
            raise ExecutorError("bad executor 'dask://': expected dask://HOST:PORT")
        return DaskExecutor("tcp://" + rest)
    raise ExecutorError(f"unknown executor {spec!r}: expected local, local:N or dask://HOST:PORT")


@dataclass
class _Entry(Generic[J]):
    job: J
    lost: int = 0  # times this job's workers died under it (beyond the executor's own retries)
    alone: bool = False  # run with nothing else in flight: a death is then its own doing


@dataclass
class ChunkRunner(Generic[J, R]):
    """Run ``fn(job)`` for jobs on an executor, at most ``max_in_flight`` at once.

    ``split(job)`` halves a job (``None`` when it cannot be split); ``poison(job, reason)`` is
    the result of a job that cannot be split and whose workers keep dying. ``retries``: how many
    times a lost job is resubmitted whole before it is split (Dask has already retried it
    ``allowed-failures`` times by then; a local pool has not). Results come out in completion
    order as ``(job, result)``; a split job comes out as its parts.

    A worker's death fails every job it held, not only the guilty one, so a job that cannot be
    split is not condemned on that evidence: it waits until nothing else is in flight and runs
    alone, and only a death then makes it poison.
    """

    executor: Executor
    fn: Callable[[J], R]
    split: Callable[[J], tuple[J, J] | None] | None = None
    poison: Callable[[J, str], R] | None = None
    max_in_flight: int | None = None
    retries: int = 0
    _futures: dict[Any, _Entry[J]] = field(default_factory=dict, init=False)
    _suspects: list[_Entry[J]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.max_in_flight is None:
            # Two per worker: each worker has its next job while it returns one.
            self.max_in_flight = 2 * self.executor.parallelism
        if self.executor.remote is False and self.retries == 0:
            self.retries = 1  # a broken local pool fails every job in flight, not only the guilty one

    @property
    def in_flight(self) -> int:
        return len(self._futures)

    @property
    def full(self) -> bool:
        # Suspects hold back new work: they must get the workers to themselves.
        return bool(self._suspects) or len(self._futures) >= (self.max_in_flight or 1)

    def submit(self, job: J) -> None:
        self._submit(_Entry(job))

    def _submit(self, entry: _Entry[J]) -> None:
        self._futures[self.executor.submit(self.fn, entry.job)] = entry

    def completed(self, block: bool = True) -> Iterator[tuple[J, R]]:
        """Results of the jobs that have finished; with ``block``, waits for at least one."""
        if not self._futures and self._suspects:
            entry = self._suspects.pop(0)
            entry.alone = True
            self._submit(entry)
        if not self._futures:
            return
        done = self.executor.wait_any(list(self._futures), timeout=None if block else 0)
        for future in done:
            entry = self._futures.pop(future)
            try:
                result = self.executor.result(future)
            except WorkerLost as exc:
                yield from self._lost(entry, str(exc))
                continue
            yield entry.job, result

    def _lost(self, entry: _Entry[J], reason: str) -> Iterator[tuple[J, R]]:
        entry.lost += 1
        if entry.lost <= self.retries:
            log.warning("executor: a worker died under a job; retrying it (%s)", reason)
            self._submit(entry)
            return
        halves = self.split(entry.job) if self.split is not None else None
        if halves is not None:
            log.warning("executor: a job kept killing workers; splitting it to find the cause (%s)", reason)
            for half in halves:
                self._submit(_Entry(half))
            return
        if not entry.alone:
            log.warning("executor: a single-item job lost its worker; it runs again alone (%s)", reason)
            self._suspects.append(entry)
            return
        if self.poison is None:
            raise WorkerLost(reason)
        log.warning("executor: a single-item job killed its worker even alone; giving it up (%s)", reason)
        yield entry.job, self.poison(entry.job, reason)

    def drain(self) -> Iterator[tuple[J, R]]:
        while self._futures or self._suspects:
            yield from self.completed(block=True)

    def cancel(self) -> None:
        """Cancel everything in flight (Ctrl-C, or an error elsewhere in the run)."""
        futures, self._futures = list(self._futures), {}
        self._suspects = []
        if futures:
            log.info("executor: cancelling %d job(s) on %s", len(futures), self.executor.description)
            self.executor.cancel(futures)
