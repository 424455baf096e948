"""The headless command on Ray: `run_app.py process FOLDER --out OUT --ray [ADDRESS]`.

One Ray task per video runs the sequential command's own per-video function
(`process.process_video`), so each video gets the same CSV + sidecar, written the same atomic way.

* Who writes: the workers, straight into `--out`. Nothing but a summary travels back to the
  driver, so a 1,000-hour library does not funnel its CSVs through one machine. On a cluster,
  `--out` and the videos must therefore be on storage every node mounts at the same path; the
  driver proves it before any video starts (it writes a token file, a task on every node must
  read it back) and refuses with a message otherwise.
* One estimator per worker process, reused across its videos (static mode has no state between
  calls; tracking mode gets a fresh one per video, as the sequential command does). The refiner
  weights travel once, through the object store (`ray.put`).
* A lost worker (process killed, node gone) is retried (`max_retries`): its partial files hold
  no lock any more and the retry's writer deletes them, then writes the whole video again, so a
  CSV is complete or absent, never duplicated. Errors of a video (corrupt, unreadable, full disk)
  are reported and not retried, as in the sequential command.
* Ctrl-C (or SIGTERM) cancels the tasks: each running one gets a KeyboardInterrupt and removes
  its temporary files; finished videos are kept.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from .config import PipelineConfig
from .refiner.runtime import Refiner

RETRIES = 3              # a video is tried again this many times when its worker is lost
REPORT_EVERY = 25        # frames between two progress reports of a worker
POLL_S = 0.5             # how often the driver refreshes the bar


class ClusterError(RuntimeError):
    """Ray cannot be used as asked (not installed, no cluster, storage not shared)."""


@dataclass
class Job:
    index: int
    video: str           # absolute path, as every node sees it
    name: str            # output stem
    out: str             # output folder (--out, or a subfolder of it with --recursive)


@dataclass
class Outcome:
    index: int
    summary: object | None       # process.VideoSummary when written
    error: str | None            # the `error:` line otherwise


# --- worker side ------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _worker_estimator(name: str, options: tuple = ()):
    """This worker process's static-mode estimator, made on its first video and kept (per name
    and options: an mmpose config and checkpoint, on storage every node sees)."""
    from .estimators import make_estimator
    return make_estimator(name, static=True, **dict(options))


def _run_job(job: Job, cfg: PipelineConfig, refiners: tuple[Refiner, Refiner | None],
             progress) -> Outcome:
    """One video on a worker: the sequential command's `process_video`, with its failures turned
    into the same `error:` line. Reports (frames done, frame count, pid) to the `progress` actor."""
    import torch

    from .cli import VIDEO_ERRORS, failure_message
    from .estimators import make_estimator
    from .process import process_video

    torch.set_num_threads(1)
    pid, last = os.getpid(), [-REPORT_EVERY]

    def report(done: int, total: int | None) -> None:
        if done - last[0] >= REPORT_EVERY:
            last[0] = done
            progress.update.remote(job.index, done, total, pid)

    progress.update.remote(job.index, 0, None, pid)
    static = cfg.keyframe_mode == "static"
    est = None
    try:
        options = cfg.estimator_options()
        est = (_worker_estimator(cfg.estimator, tuple(sorted(options.items()))) if static else
               make_estimator(cfg.estimator, static=False, **options))
        summary = process_video(job.video, Path(job.out), cfg, refiners, progress=False, estimator=est,
                                name=job.name, report=report)
    except VIDEO_ERRORS as e:
        return Outcome(job.index, None, failure_message(Path(job.video).name, e))
    finally:
        if est is not None and not static:
            est.close()
    progress.update.remote(job.index, summary.frames, summary.frames, pid)
    return Outcome(job.index, summary, None)


def _probe(token_path: str, token: str, videos: list[str]) -> tuple[str, bool, list[str]]:
    """On one node: (its address, whether it reads the driver's token, the videos it cannot see)."""
    import ray
    try:
        seen = Path(token_path).read_text() == token
    except OSError:
        seen = False
    return ray.util.get_node_ip_address(), seen, [v for v in videos if not os.path.isfile(v)]


class _Progress:
    """Per video: (frames done, frame count, worker pid), as the workers last reported."""

    def __init__(self):
        self.state: dict[int, tuple[int, int | None, int]] = {}

    def update(self, index: int, done: int, total: int | None, pid: int) -> None:
        self.state[index] = (done, total, pid)

    def get(self) -> dict[int, tuple[int, int | None, int]]:
        return self.state


# --- driver side ------------------------------------------------------------------------------

def _ray():
    try:
        import ray
    except ImportError as e:
        raise ClusterError("--ray needs Ray, an optional install: "
                           "pip install -r requirements-ray.txt") from e
    return ray


def connect(address: str | None, workers: int | None) -> bool:
    """Start a local Ray (address None: `workers` CPUs, default every core) or join the cluster at
    `address` (`auto`, `ray://host:10001`). False when Ray was already initialised (left as is)."""
    import logging
    import warnings
    ray = _ray()
    if ray.is_initialized():
        return False
    if address not in (None, "auto"):
        check_reachable(address)
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 configure_logging=True)
    term = signal.getsignal(signal.SIGTERM)     # ray.init installs its own: the caller's stays
    try:
        with warnings.catch_warnings():         # the failure is said once, below
            warnings.simplefilter("ignore")
            if address is None:
                ray.init(num_cpus=workers or os.cpu_count(), **quiet)
            else:
                # the nodes run the same environment (requirements); this package travels with the job
                ray.init(address=address, runtime_env={"py_modules": [str(Path(__file__).parent)]},
                         **{k: v for k, v in quiet.items() if k != "include_dashboard"})
    except KeyboardInterrupt:       # Ctrl-C while Ray starts: leave no Ray process behind
        ray.shutdown()
        raise
    except Exception as e:          # Ray raises plain Exception on a start-up timeout
        if address == "auto":
            raise ClusterError("--ray auto: no running Ray cluster found on this machine (start one "
                               "with `ray start --head`, or use --ray local)") from e
        where = "start a local Ray" if address is None else f"join the Ray cluster at {address}"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ClusterError(f"cannot {where}: {first}") from e
    finally:
        if term is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, term)
    return True


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """ClusterError unless something accepts a connection at `address` ([ray://]HOST:PORT):
    Ray itself retries an address where nothing listens for minutes."""
    import socket
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as e:
        why = "no answer" if isinstance(e, TimeoutError) else getattr(e, "strerror", None) or str(e)
        raise ClusterError(f"cannot join the Ray cluster at {address}: nothing answers there ({why}); "
                           "is its head running (`ray start --head`)? Without an address, "
                           "--ray local starts a Ray on this machine") from None


def _write_token(path: Path, token: str) -> None:
    path.write_text(token)


def check_shared(out_dir: Path, videos: list[str]) -> None:
    """Every node with CPUs must read a file the driver wrote in `out_dir`, and see every video;
    ClusterError naming the nodes that don't."""
    ray = _ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    token_path = out_dir / f".ray-shared-probe-{token}"
    _write_token(token_path, token)
    try:
        probe = ray.remote(num_cpus=0)(_probe)
        nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
        answers = ray.get([probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            n["NodeID"], soft=False)).remote(str(token_path), token, videos) for n in nodes])
    finally:
        token_path.unlink(missing_ok=True)
    blind = [ip for ip, seen, _ in answers if not seen]
    if blind:
        raise ClusterError(
            f"--out {out_dir} is not shared with the cluster: node(s) {', '.join(blind)} cannot read "
            "a file this machine wrote there. The workers write the CSVs themselves: give a folder "
            "on storage every node mounts at the same path (NFS, a cluster file system), or run "
            "without an address for a local Ray")
    missing = {ip: m for ip, _, m in answers if m}
    if missing:
        ip, m = next(iter(missing.items()))
        raise ClusterError(f"node {ip} cannot see {len(m)} of the videos (e.g. {m[0]}): the videos "
                           "must be on storage every node mounts at the same path")


def process_videos(videos: list[Path], names: list[str], out_dir: Path, cfg: PipelineConfig,
                   refiners: tuple[Refiner, Refiner | None], *, address: str | None = None,
                   workers: int | None = None, progress: bool = True,
                   on_progress: Callable[[dict[int, tuple[int, int | None, int]]], None] | None = None,
                   outs: list[Path] | None = None) -> tuple[list, list[tuple[Path, str]]]:
    """Process `videos` (outputs `<outs[i]>/<names[i]>.csv` + `.json`; `outs` default to `out_dir`,
    else folders inside it, as --recursive makes them) on Ray, at most `workers`
    at a time. Prints each video's summary (and `error:` line) as it finishes, under one overall
    bar. Returns (summaries written, [(video, error line)] failed), both in input order.
    `on_progress(state)` gets the workers' reports ({video index: (frames done, frame count,
    worker pid)}) at every refresh. Ctrl-C cancels the running videos (none leaves a file) and
    re-raises."""
    from tqdm import tqdm

    from .io.export import check_writable

    ray = _ray()
    out_dir = check_writable(out_dir).resolve()
    outs = [out_dir] * len(videos) if outs is None else [Path(o).resolve() for o in outs]
    if any(not o.is_relative_to(out_dir) for o in outs):
        raise ValueError("every output folder must be inside out_dir (the storage checked as shared)")
    jobs = [Job(i, str(Path(v).resolve()), n, str(o)) for i, (v, n, o) in enumerate(zip(videos, names, outs))]
    started = connect(address, workers)
    try:
        check_shared(out_dir, [j.video for j in jobs])
        weights = ray.put(tuple(refiners))                    # once, for every task
        tracker = ray.remote(num_cpus=0)(_Progress).remote()
        task = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)(_run_job)
        limit = workers or len(jobs)
        waiting, running, outcomes = list(jobs), {}, {}
        bar = tqdm(total=0, unit="frame", disable=not progress, dynamic_ncols=True,
                   desc=f"{len(jobs)} videos")
        try:
            while waiting or running:
                while waiting and len(running) < limit:
                    job = waiting.pop(0)
                    running[task.remote(job, cfg, weights, tracker)] = job
                done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
                for ref in done:
                    job = running.pop(ref)
                    outcomes[job.index] = outcome = _outcome(ray, ref, job)
                    _show(outcome, job)
                state = ray.get(tracker.get.remote())
                _refresh(bar, state, outcomes, len(jobs))
                if on_progress is not None:
                    on_progress(state)
        except KeyboardInterrupt:
            bar.close()
            _cancel(ray, running)
            raise
        finally:
            bar.close()
        ordered = [outcomes[j.index] for j in jobs]
        return ([o.summary for o in ordered if o.summary is not None],
                [(videos[o.index], o.error) for o in ordered if o.error is not None])
    finally:
        if started:
            ray.shutdown()


def _outcome(ray, ref, job: Job) -> Outcome:
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:     # the worker lost RETRIES + 1 times, or a bug
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return Outcome(job.index, None, f"{Path(job.video).name}: not processed on the cluster "
                                        f"({type(e).__name__}: {first})")


def _show(outcome: Outcome, job: Job) -> None:
    from tqdm import tqdm

    from .io.export import earlier_run_note
    if outcome.summary is not None:
        tqdm.write("\n".join(outcome.summary.lines()), file=sys.stdout)
        sys.stdout.flush()
    else:
        tqdm.write(f"error: {outcome.error}", file=sys.stderr)
        if (note := earlier_run_note(Path(job.out) / f"{job.name}.csv")) is not None:
            tqdm.write(f"note: {note}", file=sys.stderr)


def _refresh(bar, state: dict, outcomes: dict, n: int) -> None:
    """Frames done over the frames expected: finished videos count what they did, running ones
    their frame count, the others the mean of the known counts."""
    if bar.disable:
        return
    done, known = 0, []
    for i in range(n):
        frames, total, _ = state.get(i, (0, None, 0))
        if i in outcomes:
            o = outcomes[i]
            frames = total = o.summary.frames if o.summary is not None else frames
        done += frames
        if total:
            known.append(total)
    guess = sum(known) / len(known) if known else 0
    bar.total = int(sum(known) + guess * (n - len(known) - sum(
        1 for i, o in outcomes.items() if o.summary is None and not state.get(i, (0, None))[1])))
    bar.n = min(done, bar.total) if bar.total else done
    failed = sum(o.error is not None for o in outcomes.values())
    bar.set_postfix_str(f"videos {len(outcomes)}/{n} done" + (f", {failed} failed" if failed else ""),
                        refresh=False)
    bar.refresh()


def _cancel(ray, running: dict, grace_s: float = 10.0) -> None:
    """Cancel the running tasks: a KeyboardInterrupt in each (its writer removes its temporary
    files); a task still running `grace_s` later has its worker killed, and the temporary files
    such a task leaves (unlocked once it is dead) are removed here."""
    from .atomic import remove_stale_partials
    refs = list(running)
    for ref in refs:
        ray.cancel(ref)
    _, left = ray.wait(refs, num_returns=len(refs), timeout=grace_s)
    for ref in left:
        ray.cancel(ref, force=True)
    if left:
        ray.wait(left, num_returns=len(left), timeout=grace_s)
    for job in running.values():
        for suffix in (".csv", ".json"):
            remove_stale_partials(Path(job.out) / f"{job.name}{suffix}")
