"""Run file tasks on Dask: a local cluster of worker processes or a running Dask cluster.

Used by :func:`ventgen.workflows.segment_shards` (``ventgen segment ... --workers N`` or
``--scheduler ADDRESS``) and :func:`ventgen.workflows.generate_files` (``ventgen generate ... --workers
N``). Dask (``dask`` + ``distributed``) is optional: this module imports it only
when a runner is opened, and says ``pip install 'ventgen[distributed]'`` when it is missing.
``import ventgen`` and the serial path never import it.

Each task is submitted on its own (one per recording file, or one per group of patients); workers
write their output files themselves to the shared file system and send back only a small summary, so
nothing large passes through the client. What every task needs (the model and the cohort plan) is sent
to each worker once (``shared``). A task whose worker dies is reported like a failing file, never
aborting the others (or, with ``on_error="raise"``, ends the run with its error).
"""

from __future__ import annotations

import logging
import secrets

from .._core import progress
from ..errors import VentgenError, VentgenValueError

__all__ = ["DaskRunner", "SerialRunner", "MISSING_DASK", "check_workers", "runner_for", "require_distributed"]

#: The message when the optional Dask packages are not installed.
MISSING_DASK = ("--workers/--scheduler need the optional Dask packages (dask, distributed): "
                "pip install 'ventgen[distributed]'")


def require_distributed():
    """The ``distributed`` module, or a clear error saying how to install it (one line)."""
    try:
        import distributed
    except ImportError:
        raise VentgenError(MISSING_DASK) from None
    return distributed


class DaskRunner:
    """A Dask client for the length of a ``with`` block: a local cluster or a running scheduler.

    Parameters
    ----------
    workers : int, optional
        Start a local cluster of this many worker processes, one thread each.
    scheduler : str, optional
        Connect to a running scheduler instead (e.g. ``"tcp://10.0.0.5:8786"``).
    timeout : str or float
        How long to try to reach ``scheduler`` (a Dask duration such as ``"20s"``, or seconds).

    Examples
    --------
    >>> runner = DaskRunner(workers=2)   # nothing starts before ``with runner:``
    >>> runner.workers
    2
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None, timeout="20s"):
        if (workers is None) == (scheduler is None):
            raise VentgenValueError("DaskRunner: give workers (a local cluster) or scheduler, exactly one")
        self.workers, self.scheduler, self.timeout = workers, scheduler, timeout
        self._client = self._cluster = None

    def __enter__(self):
        dd = require_distributed()
        if self.scheduler is not None:
            try:
                self._client = dd.Client(self.scheduler, timeout=self.timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError, TypeError) as exc:  # unreachable, or not an address
                raise VentgenValueError(f"cannot reach the Dask scheduler at {self.scheduler}: "
                                        f"{(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
            return self
        # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in their workers: memory goes back to the system
        # at every free, and the flow generator's many mid-sized tensors then cost page faults: measured,
        # 4.7x the CPU time per patient. The workers ventgen starts keep the C library's own threshold, and
        # run without Dask's statistical profiler (it samples every thread every 10 ms: measured, 15% more
        # CPU time per patient with the flow generator's many small torch calls).
        import dask  # installed with distributed (checked above)

        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                              "distributed.worker.profile.enabled": False}):
            self._cluster = dd.LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR)
        self._client = dd.Client(self._cluster, set_as_default=False)
        return self

    @property
    def address(self) -> str | None:
        """The scheduler's address while the runner is open (None before)."""
        return None if self._client is None else self._client.scheduler.address

    def __exit__(self, *exc):
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None
        return False

    def run(self, func, tasks: list, progress_bar=None, desc: str = "segment", *, unit: str = "file",
            shared=None, on_error: str = "report") -> list:
        """``func(task)`` (``func(task, shared)`` when ``shared`` is given: sent to each worker once) for
        every task (a dict with ``source``) on the cluster; the summaries in task order. With
        ``on_error="report"``, a task that raises (a worker killed, ventgen missing on a worker) gives
        ``{"ok": False, "source", "error", "warnings": []}``; with ``"raise"``, its error ends the run."""
        dd = require_distributed()
        token = secrets.token_hex(4)
        extra = () if shared is None else (self._client.scatter([shared], broadcast=True, hash=False)[0],)
        futures = [self._client.submit(func, t, *extra, key=f"ventgen-task-{token}-{i}", pure=False)
                   for i, t in enumerate(tasks)]
        order = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(tasks)
        bar = progress(dd.as_completed(futures, loop=self._client.loop), enabled=progress_bar, total=len(futures), desc=desc,
                       unit=unit)
        for fut in bar:
            i = order[fut.key]
            try:
                results[i] = fut.result()
            except Exception as exc:  # noqa: BLE001 - one file's failure never aborts the others
                if on_error == "raise":
                    raise
                text = (str(exc).splitlines() or [""])[0][:300]
                results[i] = {"ok": False, "source": tasks[i]["source"], "warnings": [],
                              "error": f"{tasks[i]['source']}: the task failed on the cluster "
                                       f"({type(exc).__name__}: {text})"}
            fut.release()
        return results


class SerialRunner:
    """Run the tasks in this process, one after the other (the path without Dask); the same interface
    as :class:`DaskRunner` (errors are raised)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, func, tasks: list, progress_bar=None, desc: str = "tasks", *, unit: str = "task", shared=None,
            on_error: str = "raise") -> list:
        extra = () if shared is None else (shared,)
        return [func(t, *extra) for t in progress(tasks, enabled=progress_bar, desc=desc, unit=unit)]


def check_workers(workers, scheduler) -> None:
    """One clear error for a bad ``workers`` (an integer >= 0) or for both ``workers`` and ``scheduler``."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise VentgenValueError(f"workers must be an integer >= 0, got {workers!r}")
    if workers and scheduler is not None:
        raise VentgenValueError("give workers (a local Dask cluster) or scheduler (a running one), not both")


def runner_for(workers: int | None = 0, scheduler: str | None = None):
    """:class:`SerialRunner` for ``workers`` 0 or None without ``scheduler``, else a :class:`DaskRunner`."""
    check_workers(workers, scheduler)
    return DaskRunner(workers or None, scheduler) if workers or scheduler is not None else SerialRunner()
