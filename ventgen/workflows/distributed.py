"""Run file tasks on Dask: a local cluster of worker processes or a running Dask cluster.

Used by :func:`ventgen.workflows.segment_shards` (``ventgen segment ... --workers N`` or
``--scheduler ADDRESS``). Dask (``dask`` + ``distributed``) is optional: this module imports it only
when a runner is opened, and says ``pip install 'ventgen[distributed]'`` when it is missing.
``import ventgen`` and the serial path never import it.

Each task is submitted on its own (one per recording file); workers write their output files
themselves to the shared file system and send back only a small summary, so nothing large passes
through the client. A task whose worker dies is reported like a failing file, never aborting the
others.
"""

from __future__ import annotations

import logging
import secrets

from .._core import progress
from ..errors import VentgenError, VentgenValueError

__all__ = ["DaskRunner", "MISSING_DASK"]

#: The message when the optional Dask packages are not installed.
MISSING_DASK = ("--workers/--scheduler need the optional Dask packages (dask, distributed): "
                "pip install 'ventgen[distributed]'")


def _distributed():
    """The ``distributed`` module, or a clear error saying how to install it."""
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

    Examples
    --------
    >>> runner = DaskRunner(workers=2)   # nothing starts before ``with runner:``
    >>> runner.workers
    2
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        if (workers is None) == (scheduler is None):
            raise VentgenValueError("DaskRunner: give workers (a local cluster) or scheduler, exactly one")
        self.workers, self.scheduler = workers, scheduler
        self._client = self._cluster = None

    def __enter__(self):
        dd = _distributed()
        if self.scheduler is not None:
            try:
                self._client = dd.Client(self.scheduler, timeout="20s", set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise VentgenValueError(f"cannot reach the Dask scheduler at {self.scheduler}: "
                                        f"{(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
            return self
        self._cluster = dd.LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
        self._client = dd.Client(self._cluster, set_as_default=False)
        return self

    def __exit__(self, *exc):
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None
        return False

    def run(self, func, tasks: list, progress_bar=None, desc: str = "segment") -> list:
        """``func(task)`` for every task (a dict with ``source``) on the cluster; the summaries in task
        order. A task that raises (a worker killed, ventgen missing on a worker) gives
        ``{"ok": False, "source", "error", "warnings": []}``."""
        dd = _distributed()
        token = secrets.token_hex(4)
        futures = [self._client.submit(func, t, key=f"ventgen-task-{token}-{i}", pure=False)
                   for i, t in enumerate(tasks)]
        order = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(tasks)
        bar = progress(dd.as_completed(futures, loop=self._client.loop), enabled=progress_bar, total=len(futures), desc=desc,
                       unit="file")
        for fut in bar:
            i = order[fut.key]
            try:
                results[i] = fut.result()
            except Exception as exc:  # noqa: BLE001 - one file's failure never aborts the others
                text = (str(exc).splitlines() or [""])[0][:300]
                results[i] = {"ok": False, "source": tasks[i]["source"], "warnings": [],
                              "error": f"{tasks[i]['source']}: the task failed on the cluster "
                                       f"({type(exc).__name__}: {text})"}
            fut.release()
        return results
