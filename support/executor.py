r"""One executor for every parallel study: local single-threaded processes, or a Dask cluster.

A study that trains many small models (an LJ latent-model ensemble, a predator–prey budget sweep)
hands its jobs to :func:`open_pool`, which gives a :class:`Pool` around a ``concurrent.futures``
executor (a study whose jobs are a list of independent, self-seeded items — paper 2's patch sides or
temperatures — calls :func:`map_jobs`, which runs them here when nothing is parallel):

* by default, ``workers`` spawned local processes (a :class:`~concurrent.futures.ProcessPoolExecutor`);
* with a Dask scheduler address — ``--scheduler ADDRESS`` on the command line
  (:func:`using`) or ``$MACRODYN_SCHEDULER`` — the workers of that ``distributed`` cluster, through
  ``Client(address).get_executor()`` (a ``concurrent.futures``-compatible executor, so
  :func:`concurrent.futures.wait` and ``as_completed`` work on its futures as on the local pool's).

Either way every job runs as ``fn(shared, *args)`` with one torch thread: ``shared`` is the state
common to all jobs (the system, autoencoder, pools… of a sweep), sent once per worker (the local
pool's initializer; a Dask worker has none, so there it is scattered to the workers once and its
future passed to every job), and the per-job set-up (the torch thread count) happens inside the job.
Jobs are seeded, so what they return does not depend on where they ran (tested against a Dask
``LocalCluster``).

An address that no scheduler answers within :data:`CONNECT_TIMEOUT` seconds is a ``ValueError``
of one line (the command line's exit 2), not a hang.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

#: environment variable naming the Dask scheduler every parallel study sends its jobs to
ENV_VAR = "MACRODYN_SCHEDULER"
#: seconds to wait for a scheduler to answer before giving up with an error
CONNECT_TIMEOUT = 10.0
#: seconds a study waits for the cluster's first worker (queued batch jobs, workers starting)
WORKER_TIMEOUT = 600.0

_selected: list[str] = []            # set by `using` (the command line's --scheduler), innermost last
_clients: dict[str, Any] = {}        # address -> distributed.Client of this process


def scheduler_address() -> str | None:
    """The Dask scheduler jobs go to: the one :func:`using` selected, else ``$MACRODYN_SCHEDULER``,
    else ``None`` (local processes)."""
    if _selected:
        return _selected[-1]
    return os.environ.get(ENV_VAR) or None


@contextmanager
def using(address: str | None) -> Iterator[None]:
    """Send every parallel study's jobs to the scheduler at ``address`` inside the block (``None``:
    no change)."""
    if address is None:
        yield
        return
    _selected.append(address)
    try:
        yield
    finally:
        _selected.pop()


def parallel(workers: int) -> bool:
    """Whether jobs leave this process: more than one local worker, or a scheduler selected."""
    return workers > 1 or scheduler_address() is not None


def connect(address: str, timeout: float | None = None):
    """This process's ``distributed.Client`` of the scheduler at ``address`` (made once, then
    reused). ``ValueError`` (one line) if ``distributed`` is missing or no scheduler answers within
    ``timeout`` seconds (default :data:`CONNECT_TIMEOUT`)."""
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    if address in _clients:
        if _clients[address].status == "running":
            return _clients[address]
        _clients.pop(address).close()           # a client that lost its scheduler: closed, not leaked
    try:
        import asyncio

        from distributed import Client
        from distributed.comm import connect as comm_connect
    except ImportError:
        raise ValueError(f"a scheduler ({address}) needs Dask's 'distributed' package: "
                         "pip install -r requirements.txt") from None

    async def probe() -> None:         # a plain handshake first: a failed Client() lingers while closing
        comm = await comm_connect(address, timeout=timeout)
        await comm.close()

    try:
        asyncio.run(probe())
        client = Client(address, timeout=timeout, set_as_default=False)
    except Exception as err:           # noqa: BLE001 - whatever the reason, one line for the user
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(f"no Dask scheduler answered at {address} within {timeout:g} s ({reason})") from None
    _clients[address] = client
    return client


def disconnect() -> None:
    """Close this process's clients (a test whose cluster goes away; a process exiting closes them)."""
    while _clients:
        _clients.popitem()[1].close()


def _in_worker(fn: Callable, shared: Any, *args: Any) -> Any:
    """A job as it runs on a worker: one torch thread (small nets train fastest so, and a worker
    has one core), then ``fn(shared, *args)``."""
    import torch
    torch.set_num_threads(1)
    return fn(shared, *args)


_SHARED: dict[str, Any] = {}         # the local pool's shared state, set by its initializer


def _install(shared: Any) -> None:
    _SHARED["value"] = shared


def _in_local_worker(fn: Callable, *args: Any) -> Any:
    return _in_worker(fn, _SHARED.get("value"), *args)


class Pool:
    """Where a study's jobs run: :meth:`submit` gives a ``concurrent.futures.Future``; :meth:`capacity`
    is how many jobs to keep in flight (local workers, or the cluster's worker threads now)."""

    def __init__(self, executor: cf.Executor, where: str, capacity: Callable[[], int],
                 submit: Callable[..., cf.Future]) -> None:
        self.executor, self.where = executor, where
        self._capacity, self._submit = capacity, submit

    def submit(self, fn: Callable, *args: Any) -> cf.Future:
        """Run ``fn(shared, *args)`` on a worker (``fn`` must be importable there, a module-level function)."""
        return self._submit(fn, *args)

    def capacity(self) -> int:
        return max(1, self._capacity())


@contextmanager
def open_pool(workers: int = 1, shared: Any = None, scheduler: str | None = None) -> Iterator[Pool]:
    """A :class:`Pool` on the scheduler ``scheduler`` (default :func:`scheduler_address`; the
    cluster decides how many jobs run at once), or on ``workers`` local spawned processes when none
    is selected. ``shared`` is passed to every job."""
    address = scheduler if scheduler is not None else scheduler_address()
    if address is None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        import multiprocessing as mp
        with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_install,
                                    initargs=(shared,)) as ex:
            yield Pool(ex, f"{workers} local processes", lambda: workers,
                       lambda fn, *args: ex.submit(_in_local_worker, fn, *args))
        return
    client = connect(address)
    try:                                       # queued SLURM jobs or starting workers: wait, then say so
        client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
    except Exception:                          # noqa: BLE001 - a timeout, whatever its type
        raise ValueError(f"the Dask scheduler at {address} has no worker after {WORKER_TIMEOUT:g} s: "
                         "start workers with 'dask worker " + address + "'") from None
    ex = client.get_executor(pure=False)       # every job runs, even two with equal arguments
    # in a list: a dict alone would be scattered value by value
    shared_ref = client.scatter([shared], broadcast=True, hash=False)[0] if shared is not None else None
    try:
        yield Pool(ex, f"Dask scheduler {address}", lambda: sum(client.nthreads().values()),
                   lambda fn, *args: ex.submit(_in_worker, fn, shared_ref, *args))
    finally:
        ex.shutdown(wait=True)
        if shared_ref is not None:
            shared_ref.release()


def map_jobs(fn: Callable, items: Iterable[Any], *, workers: int = 1, shared: Any = None,
             progress: bool = False, desc: str = "jobs") -> list[Any]:
    """``[fn(shared, item) for item in items]``, in the order of ``items``: here, one after another,
    unless :func:`parallel` (``workers > 1`` or a Dask scheduler selected), then on :func:`open_pool`'s
    workers. For studies whose jobs draw their random numbers from generators seeded by the study's
    seed and their item (paper 2's patch sides and temperatures), so the list is the same wherever it
    was computed. The first job that raises cancels the jobs not yet started and raises here.
    ``fn`` must be a module-level function (a worker imports it)."""
    items = list(items)
    if not items:
        return []
    if not parallel(workers):
        return [fn(shared, item) for item in tqdm(items, desc=desc, disable=not progress)]
    with open_pool(min(workers, len(items)) if scheduler_address() is None else workers, shared) as pool:
        futures = [pool.submit(fn, item) for item in items]
        try:
            for done in tqdm(cf.as_completed(futures), total=len(futures), desc=desc, disable=not progress):
                done.result()                  # the first failure stops the study ...
        except BaseException:
            for f in futures:                  # ... without waiting for the jobs still queued
                f.cancel()
            raise
        return [f.result() for f in futures]
