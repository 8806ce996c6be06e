"""Where calls run: in this process or on a Dask cluster, never hanging (the low-level room of the grids).

:func:`connect` gives a ``distributed.Client`` for a scheduler spec (or ``None``: in process),
:func:`dispatch` is the one loop that submits tasks and collects them, and :func:`map_runs` maps
any function over keyword sets with it. This module imports nothing of mmtheory: the experiments
(``run_standin``, ``modality_sweeps``) and the grid runner (:mod:`mmtheory.sweep`) build on it.

Scheduler specs:

* ``None`` -- in this process, one call after another;
* ``"local"`` / ``"local:N"`` -- a ``LocalCluster`` of N worker processes, one thread each;
* ``"tcp://host:8786"`` (or ``"host:8786"``) -- an existing Dask scheduler;
* a ``distributed.Client`` -- used as it is (not closed).

Never a hang: reaching a scheduler has a deadline (``connect_timeout``) that covers the handshake (a
port that accepts and never answers, or answers as another service, is refused with a message), and
a cluster with no worker for longer than ``worker_timeout`` seconds -- before the first task or
while tasks wait -- is an error saying so.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

#: Environment variables of the BLAS/OpenMP thread pools (one thread per task on a worker).
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
#: Seconds allowed to reach a scheduler and finish its handshake.
CONNECT_TIMEOUT = 20.0
#: Seconds a cluster may have no worker before the grid is stopped with an error.
WORKER_TIMEOUT = 120.0
#: A Dask handshake is a few hundred bytes; a first frame longer than this is another service talking.
_MAX_HANDSHAKE = 1 << 20


def _check_timeout(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < float("inf")):
        raise ValueError(f"{name} must be a finite number of seconds > 0; got {value!r}.")
    return float(value)


def _check_count(name: str, value: int | None, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return value


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a TCP address (``tcp://h:p`` or ``h:p``), ``None`` for other transports."""
    rest = address
    if "://" in address:
        scheme, _, rest = address.partition("://")
        if scheme != "tcp":
            return None
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"scheduler {address!r} is not an address; write 'tcp://host:8786' (or 'local:N').")
    return host.strip("[]"), int(port)


def probe_scheduler(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Refuse, within ``timeout`` seconds, an address where no Dask scheduler answers.

    A Dask scheduler sends its handshake as soon as a connection opens; this reads its first frame
    header (8 bytes, the frame length) and nothing more.

    Raises
    ------
    ValueError
        Nothing listens there, the port accepts and stays silent, or what answers is not Dask.
    """
    timeout = _check_timeout("connect_timeout", timeout)
    hp = _host_port(address)
    if hp is None:
        return
    start = time.monotonic()
    try:
        sock = socket.create_connection(hp, timeout=timeout)
    except OSError as exc:
        raise ValueError(f"cannot reach the Dask scheduler at {address!r} ({exc.strerror or exc}); start one with "
                         "`dask scheduler` and workers with `dask worker ADDRESS`.") from None
    head = b""
    try:
        while len(head) < 8:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                raise socket.timeout
            sock.settimeout(left)
            chunk = sock.recv(8 - len(head))
            if not chunk:
                raise ValueError(f"{address!r} accepted a connection and closed it without a Dask handshake; "
                                 "it is not a Dask scheduler (check the host and port).")
            head += chunk
    except (socket.timeout, TimeoutError):
        raise ValueError(f"{address!r} accepts connections but sent no Dask handshake within {timeout:g} s; it is "
                         "not a Dask scheduler (an HTTP server or another service?), or it is stuck.") from None
    except OSError as exc:
        raise ValueError(f"cannot talk to the Dask scheduler at {address!r} ({exc}).") from None
    finally:
        sock.close()
    (size,) = struct.unpack("<Q", head)
    if not 0 < size <= _MAX_HANDSHAKE:
        raise ValueError(f"{address!r} answered, but not as a Dask scheduler does (first frame of {size} bytes); "
                         "check the host and port.")


def _local_cluster(n: int | None):
    from distributed import Client, LocalCluster

    n = n or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           env={**{v: "1" for v in THREAD_VARS}, "TQDM_DISABLE": "1",
                                # the statistical profiler samples every task thread every 10 ms
                                "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"})
    return Client(cluster), cluster


def in_process(scheduler: Any) -> bool:
    """Whether ``scheduler`` means "here, one call after another"."""
    return scheduler is None or (isinstance(scheduler, str) and scheduler in ("inprocess", "none", ""))


def check_scheduler(scheduler: Any, workers: int | None = None) -> int | None:
    """Validate a scheduler spec and a worker count without connecting; return the local worker count.

    Raises
    ------
    ValueError
        A worker count that is not an integer >= 1, workers without a scheduler, or a malformed spec.
    """
    workers = _check_count("workers", workers, 1)
    if in_process(scheduler):
        if workers not in (None, 1):
            raise ValueError(f"workers={workers} needs a Dask scheduler; pass scheduler='local' (or 'local:N').")
        return None
    if isinstance(scheduler, str) and (scheduler == "local" or scheduler.startswith("local:")):
        n = workers
        if scheduler.startswith("local:"):
            try:
                n = int(scheduler.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"scheduler {scheduler!r}: write 'local:N' with N the number of workers.") from None
            if n < 1:
                raise ValueError(f"scheduler {scheduler!r}: the number of workers must be an integer >= 1; got {n}.")
        return n
    if isinstance(scheduler, str):
        _host_port(scheduler)
        return None
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - a dependency
        Client = ()  # noqa: N806
    if not isinstance(scheduler, Client):
        raise ValueError(f"scheduler must be None, 'local', 'local:N', an address such as 'tcp://host:8786', or a "
                         f"distributed.Client; got {scheduler!r}.")
    return None


@contextlib.contextmanager
def connect(scheduler: Any = None, workers: int | None = None, log: Callable[[str], None] | None = print, *,
            connect_timeout: float = CONNECT_TIMEOUT) -> Iterator:
    """A ``distributed.Client`` for ``scheduler`` (module docstring), or ``None`` to run in process.

    Prints the worker count and dashboard address (through ``log``) when a client is made here.
    Reaching an address has a deadline of ``connect_timeout`` seconds, handshake included.
    """
    n = check_scheduler(scheduler, workers)
    connect_timeout = _check_timeout("connect_timeout", connect_timeout)
    if in_process(scheduler):
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("scheduler needs dask.distributed (pip install dask distributed).") from None
    if isinstance(scheduler, Client):
        yield scheduler
        return
    cluster = None
    if scheduler == "local" or scheduler.startswith("local:"):
        client, cluster = _local_cluster(n)
    else:
        probe_scheduler(scheduler, connect_timeout)
        try:
            client = Client(scheduler, timeout=f"{connect_timeout}s")
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start one with "
                             "`dask scheduler` and workers with `dask worker ADDRESS`.") from None
    try:
        if log is not None:
            count = len(client.scheduler_info().get("workers", {}))
            log(f"Dask: {count} worker(s), dashboard {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``n`` inside the block (``None``: unchanged), then restored."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def progress_bar(total: int, desc: str, progress: bool | None):
    """A tqdm bar; ``progress=None``: on unless ``TQDM_DISABLE`` is set (``1``/``true``/``yes``/``on``)."""
    from tqdm import tqdm

    off = os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes", "on")
    return tqdm(total=total, desc=desc, disable=off if progress is None else not progress)


def _call(fn: Callable, args: tuple, kwargs: dict, threads: int | None):
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return fn(*args, **kwargs)


def _workers(client) -> int:
    return len(client.scheduler_info().get("workers", {}))


def wait_for_workers(client, deadline: float = WORKER_TIMEOUT) -> None:
    """Return once the cluster has a worker; ``RuntimeError`` after ``deadline`` seconds without one."""
    deadline = _check_timeout("worker_timeout", deadline)
    try:
        client.wait_for_workers(1, timeout=deadline)
    except TimeoutError:
        raise RuntimeError(f"the Dask cluster at {client.scheduler.address} has had no worker for {deadline:g} s; "
                           "start workers (`dask worker ADDRESS`) or check that they can reach the scheduler."
                           ) from None


def dispatch(client, fn: Callable, calls: Sequence[tuple[tuple, dict]], *, keys: Sequence[str] | None = None,
             retries: int = 2, threads: int | None = 1, worker_timeout: float = WORKER_TIMEOUT,
             on_done: Callable[[int, bool], None] | None = None, poll: float = 1.0) -> tuple[list, dict]:
    """Run ``fn(*args, **kwargs)`` for every ``(args, kwargs)`` of ``calls``; the one dispatch loop.

    Parameters
    ----------
    client : distributed.Client or None
        ``None``: here, one call after another.
    keys : sequence of str, optional
        Dask task keys (one per call).
    retries : int
        Extra attempts of a call that raised (a worker's death is retried by Dask itself).
    threads : int or None
        Torch threads of each call.
    worker_timeout : float
        Seconds the cluster may have no worker (before the first call or while calls wait).
    on_done : callable(index, ok), optional
        Called as each call ends.

    Returns
    -------
    (list, dict)
        Results in input order (``None`` for a failed call) and ``{index: exception}`` of the failures.
    """
    retries = _check_count("retries", retries, 0)
    worker_timeout = _check_timeout("worker_timeout", worker_timeout)
    out: list = [None] * len(calls)
    errors: dict[int, BaseException] = {}
    if client is None:
        with torch_threads(threads):
            for i, (args, kwargs) in enumerate(calls):
                try:
                    out[i] = fn(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - reported to the caller
                    errors[i] = exc
                if on_done is not None:
                    on_done(i, i not in errors)
        return out, errors
    from distributed import wait

    wait_for_workers(client, worker_timeout)
    futures = [client.submit(_call, fn, tuple(args), dict(kwargs), threads or 1, pure=False, retries=retries,
                             **({"key": keys[i]} if keys is not None else {}))
               for i, (args, kwargs) in enumerate(calls)]
    index = {f.key: i for i, f in enumerate(futures)}
    pending, empty_since = set(futures), None
    try:
        while pending:
            try:
                done, pending = wait(list(pending), timeout=poll, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            for f in done:
                i = index[f.key]
                if f.status == "error":
                    errors[i] = f.exception()
                elif f.status == "cancelled":
                    errors[i] = RuntimeError(f"task {f.key} was cancelled by the cluster")
                else:
                    out[i] = f.result()
                if on_done is not None:
                    on_done(i, i not in errors)
            if pending:
                if _workers(client):
                    empty_since = None
                elif empty_since is None:
                    empty_since = time.monotonic()
                elif time.monotonic() - empty_since > worker_timeout:
                    raise RuntimeError(f"the Dask cluster has had no worker for {worker_timeout:g} s with {len(pending)} "
                                       "task(s) waiting; start workers (`dask worker ADDRESS`) and run again "
                                       "(finished work is kept).")
    finally:
        if pending:
            client.cancel(list(pending))
    return out, errors


def map_runs(fn: Callable, kwargs_list: Sequence[Mapping[str, Any]], scheduler: Any = None, *,
             shared: Mapping[str, Any] | None = None, workers: int | None = None, retries: int = 2,
             threads: int | None = 1, progress: bool | None = None, desc: str = "runs",
             log: Callable[[str], None] | None = print, connect_timeout: float = CONNECT_TIMEOUT,
             worker_timeout: float = WORKER_TIMEOUT) -> list:
    """``[fn(**shared, **kw) for kw in kwargs_list]``, in process or on Dask; results in input order.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to the workers).
    kwargs_list : sequence of dict
        One keyword set per call.
    scheduler : None, "local", "local:N", address or distributed.Client
        Where the calls run (module docstring); ``None``: here, one after another.
    shared : dict, optional
        Keyword arguments common to every call (data): scattered once to every worker.
    workers : int, optional
        Worker count for ``scheduler="local"``.
    retries : int
        Extra attempts of a call that raised (a worker's death is retried by Dask itself).
    threads : int or None
        Torch threads of each call (default 1, in process as on a worker, so results do not depend on
        the scheduler); ``None`` leaves them alone in process.
    progress : bool, optional
        Progress bar (default: on unless ``TQDM_DISABLE``).
    connect_timeout, worker_timeout : float
        Deadlines in seconds (module docstring).

    Returns
    -------
    list
        ``fn``'s return values, in the order of ``kwargs_list``.

    Raises
    ------
    Exception
        The first failed call's exception (in process: as soon as it happens).
    """
    kwargs_list = [dict(k) for k in kwargs_list]
    shared = dict(shared or {})
    _check_count("retries", retries, 0)
    clash = sorted({k for kw in kwargs_list for k in kw} & set(shared))
    if clash:
        raise ValueError(f"keyword(s) {clash} are given both in shared and per call; keep each in one place.")
    with connect(scheduler, workers, log, connect_timeout=connect_timeout) as client:
        bar = progress_bar(len(kwargs_list), desc, progress)
        try:
            if client is None:
                out = []
                with torch_threads(threads):
                    for kw in kwargs_list:
                        out.append(fn(**shared, **kw))
                        bar.update()
                return out
            shared_f = {k: client.scatter(v, broadcast=True) for k, v in shared.items()}
            out, errors = dispatch(client, fn, [((), {**shared_f, **kw}) for kw in kwargs_list], retries=retries,
                                   threads=threads, worker_timeout=worker_timeout, on_done=lambda i, ok: bar.update())
            if errors:
                raise errors[min(errors)]
            return out
        finally:
            bar.close()
