"""The cost of the Dask seam: the same 4,000 real test formulas rendered by the local process pool
and by a 2-worker ``dask.distributed`` cluster on this machine, in the same run.

Both sides run 2 worker processes, no cache (every formula is typeset and rasterised), the same
chunking. The runs alternate local, cluster, cluster, local (ABBA), so a change in the machine's
load during the run falls on both sides alike; the figure is the ratio of the summed wall times.
On a machine shared with other work the wall times carry that load too, so the CPU time both
sides spend (driver, worker processes and their pdflatex/Ghostscript children, from psutil) is
printed beside them (the whole process tree: see ``_tree_cpu``): it is what the cluster machinery
costs whatever the load. The workers run
with Dask's statistical profiler off (``distributed.worker.profile.enabled: false``, as the README
recommends for render workers): it samples every thread every 10 ms.
It also measures what the README's scaling estimate needs: the worker-seconds per chunk, the bytes
a chunk's results take on the wire (pickled), and the driver's CPU time per formula (receiving,
unpickling, writing the cache) when the cluster does the rendering.

    nice -n 10 python benchmarks/executor_overhead.py [--n 4000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
GOLD = SHARED / "data" / "im2latex100k" / "tgt-test-old.txt"


def _tree_cpu() -> float:
    """CPU seconds of this process and of every process under it, with their finished children.

    Every worker of both sides (the pool's forkserver and its workers, the cluster's nannies and
    workers) lives under this process, and pdflatex and Ghostscript are counted by the worker that
    waited for them. Taking the whole tree counts a worker the pool starts during a run (the pool
    starts its processes on demand), which a list of worker ids taken beforehand would miss; each
    side's figure also carries the other side's idle processes (heartbeats: a few per cent).
    """
    import psutil  # a dependency of distributed

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def timed(renderer, formulas: list[str]) -> tuple[float, float, float, list]:
    """Wall seconds, driver CPU seconds, CPU seconds of the whole process tree, and the renders."""
    before = _tree_cpu()
    wall, cpu = time.perf_counter(), time.process_time()
    out = renderer.render(formulas)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, _tree_cpu() - before, out


def main() -> None:
    import distributed

    from markupeval.executor import DaskExecutor, LocalExecutor
    from markupeval.rendering import Renderer
    from markupeval.rendering.batch import ChunkJob, render_chunk

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=1, help="ABBA rounds")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    formulas = GOLD.read_text(encoding="utf-8").split("\n")[: args.n]
    print(f"{len(formulas)} formulas of {GOLD.name}; {args.workers} workers each side; load average "
          f"{os.getloadavg()[0]:.1f} at start on {os.cpu_count()} CPUs")
    import dask

    with dask.config.set({"distributed.worker.profile.enabled": False}), distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None, silence_logs=40) as cluster:
        cluster_ex = DaskExecutor(cluster.scheduler_address)
        local_ex = LocalExecutor(args.workers)
        times: dict[str, list[float]] = {"local": [], "cluster": []}
        driver_cpu: dict[str, list[float]] = {"local": [], "cluster": []}
        tree_cpu: dict[str, list[float]] = {"local": [], "cluster": []}
        reference = None
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.rounds):
                for side in ("local", "cluster", "cluster", "local"):
                    ex = local_ex if side == "local" else cluster_ex
                    # A fresh cache folder per run: the driver writes every result, as in a real
                    # cold run, and nothing is read back.
                    cache = Path(tmp) / f"{side}-{len(times[side])}"
                    with Renderer(cache=cache, executor=ex, workers=args.workers) as r:
                        wall, cpu, tree, out = timed(r, formulas)
                    times[side].append(wall)
                    driver_cpu[side].append(cpu)
                    tree_cpu[side].append(tree)
                    statuses = [(x.status, None if x.image is None else x.image.tobytes()) for x in out]
                    if reference is None:
                        reference = statuses
                    assert statuses == reference, "cluster and local renders differ"
                    print(f"  {side:8s} {wall:6.1f} s wall, driver CPU {cpu:5.1f} s, all processes CPU {tree:5.1f} s   "
                          f"(load {os.getloadavg()[0]:.1f})", flush=True)
        local_ex.close()
        cluster_ex.close()

    # Per-chunk cost and transfer size, for the scaling estimate.
    with Renderer(cache=False, workers=1) as r:
        chunks = r._chunks([r.rewrite(f) for f in formulas], args.workers)
        fmt = r._preloaded_format()
        s = r.settings
        sample = chunks[len(chunks) // 2]
        job = ChunkJob(tuple(r.rewrite(formulas[i]) for i in sample), s.template, s.rasterizer, s.dpi, r.limits,
                       s.bilevel, s.strict, fmt)
        t0 = time.perf_counter()
        results = render_chunk(job)
        chunk_seconds = time.perf_counter() - t0
    wire = len(pickle.dumps(results, protocol=5))
    local_t, cluster_t = sum(times["local"]), sum(times["cluster"])
    per_formula_cpu = statistics.median(driver_cpu["cluster"]) / len(formulas)
    print(f"local pool  {local_t:7.1f} s   ({len(formulas) * len(times['local']) / local_t:5.1f} formulas/s)")
    print(f"dask        {cluster_t:7.1f} s   ({len(formulas) * len(times['cluster']) / cluster_t:5.1f} formulas/s)")
    print(f"overhead of the cluster, wall: {100 * (cluster_t / local_t - 1):+.1f} %  (ratio {cluster_t / local_t:.3f})")
    local_c = sum(tree_cpu["local"])
    cluster_c = sum(tree_cpu["cluster"])
    print(f"overhead of the cluster, CPU (driver + scheduler + workers + TeX/Ghostscript): "
          f"{100 * (cluster_c / local_c - 1):+.1f} %  ({local_c:.1f} s vs {cluster_c:.1f} s)")
    print(f"chunk of {len(sample)} formulas: {chunk_seconds:.2f} worker-s, {wire / 1024:.0f} KiB of results "
          f"({wire / len(sample) / 1024:.1f} KiB per formula)")
    # LocalCluster runs the scheduler inside this process, so this includes the scheduler's work.
    print(f"driver + scheduler CPU per formula with the cluster rendering: {1000 * per_formula_cpu:.2f} ms "
          f"(they alone could take {1 / per_formula_cpu:.0f} formulas/s)")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
