"""Rendering on a real dask.distributed cluster (a scheduler and 2 worker processes on 127.0.0.1)
gives the local renders, survives a worker killed with SIGKILL, contains the hostile corpus, and
refuses a worker whose TeX differs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("gs") is None,
    reason="pdflatex/Ghostscript not installed (run render/setup.sh)",
)

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from markupeval.errors import RenderEnvironmentError  # noqa: E402
from markupeval.executor import DaskExecutor, LocalExecutor  # noqa: E402
from markupeval.rendering import Renderer  # noqa: E402
from markupeval.rendering import renderer as renderer_module  # noqa: E402
from markupeval.rendering.batch import render_chunk  # noqa: E402

# The workers unpickle this module's functions by value: they cannot import a test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

# Seconds without progress. Generous: at 2 s and at 10 s ordinary chunks timed out on the cluster
# (not locally) on a 2-core machine at load 5-20, most likely while a fresh worker (a replacement
# for a killed one) builds its preloaded TeX format. The looping formula costs this once per test.
TIMEOUT = 30.0
LOOP = r"\def\x{\x}\x"
# Formulas with TeX errors of the kinds model outputs have (runaway argument, undefined control
# sequence, unbalanced braces: some fail, some still give a page), and one that loops until the timeout.
BROKEN = [r"\frac { a", r"\operatornamewithlimits { x", r"x ^ { 2", r"\begin{array} { c } x", r"\undefined x", LOOP]


@pytest.fixture(scope="module")
def formulas(shared_dir: Path) -> list[str]:
    gold = (shared_dir / "data" / "im2latex100k" / "tgt-test-old.txt").read_text(encoding="utf-8").split("\n")
    chosen = gold[:320]
    # Spread the broken ones through the batch, so their chunks also hold ordinary formulas.
    for k, f in enumerate(BROKEN):
        chosen.insert(37 * k + 5, f)
    return chosen


@pytest.fixture(scope="module")
def cluster():
    import dask

    # Dask's own retries (allowed-failures, default 3) are off: a chunk whose worker dies comes
    # back "killed" at once and markupeval retries it in halves. Every worker death costs a worker
    # restart (seconds on a loaded machine), so this keeps the poisoned-chunk test short.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=":0", silence_logs=40) as c:
            yield c


@pytest.fixture(scope="module")
def executor(cluster):
    ex = DaskExecutor(cluster.scheduler_address)
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def local(formulas) -> list:
    with Renderer(cache=False, workers=2, timeout=TIMEOUT, chunk_size=40) as r:
        return r.render(formulas)


def _same(a, b) -> None:
    assert len(a) == len(b)
    for k, (x, y) in enumerate(zip(a, b)):
        assert (x.status, x.message) == (y.status, y.message), k
        if x.image is None:
            assert y.image is None, k
        else:
            assert y.image is not None and x.image.shape == y.image.shape and (x.image == y.image).all(), k


def test_cluster_renders_are_the_local_renders(formulas, local, executor) -> None:
    statuses = Counter(r.status for r in local)
    assert len(formulas) >= 300 and statuses["error"] >= 2 and statuses["timeout"] == 1, statuses
    assert sum(1 for r in local if r.status == "ok" and r.message) >= 3  # TeX errors that still give a page
    with Renderer(cache=False, timeout=TIMEOUT, chunk_size=40, executor=executor) as r:
        remote = r.render(formulas)
    _same(local, remote)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(formulas, local, executor, cluster) -> None:
    pids = executor.client.run(os.getpid)
    seen: Counter[int] = Counter()
    results: dict[int, object] = {}
    killed = None
    with Renderer(cache=False, timeout=TIMEOUT, chunk_size=20, executor=executor) as r:
        for i, result in r.render_stream(formulas):
            seen[i] += 1
            results[i] = result
            if killed is None:
                killed = sorted(pids.values())[0]
                os.kill(killed, signal.SIGKILL)  # mid-run: chunks are in flight on both workers
    assert sorted(seen) == list(range(len(formulas))) and set(seen.values()) == {1}
    _same(local, [results[i] for i in range(len(formulas))])
    executor.client.wait_for_workers(2, timeout=120)
    assert killed not in executor.client.run(os.getpid).values()  # it really died (and was replaced)


def test_stopping_a_run_cancels_its_cluster_work(formulas, executor) -> None:
    # Ctrl-C raises KeyboardInterrupt in the loop that consumes the results; closing the stream is
    # the same exit path (a BaseException through render_stream), without signalling pytest.
    with Renderer(cache=False, timeout=TIMEOUT, chunk_size=10, executor=executor) as r:
        stream = r.render_stream(formulas)
        next(stream)
        stream.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = executor.client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
        if left == 0:
            break
        time.sleep(0.2)
    assert left == 0 and not executor.client.futures


POISON = "killsitsworker"


def _render_or_die(job):
    """The chunk task with an injected fault: a worker that receives the poison dies at once."""
    if any(POISON in f for f in job.formulas):
        os._exit(1)
    return render_chunk(job)


def test_a_chunk_that_kills_workers_is_bisected_to_the_formula(formulas, local, executor, monkeypatch) -> None:
    monkeypatch.setattr(renderer_module, "render_chunk", _render_or_die)
    batch = formulas[:24] + [rf"\mathrm{{{POISON}}}"] + formulas[24:40]
    t0 = time.monotonic()
    with Renderer(cache=False, timeout=TIMEOUT, chunk_size=2, executor=executor) as r:
        out = r.render(batch)
    elapsed = time.monotonic() - t0
    assert elapsed < 120, f"{elapsed:.0f} s"  # never hangs
    assert out[24].status == "error" and "killed its worker" in out[24].message, (out[24].status, out[24].message)
    # Only the poison is given up, never a formula that shared its worker (formula 5's TeX error is its own).
    innocent = [(k, o.message) for k, o in enumerate(out) if k != 24 and "killed its worker" in o.message]
    assert not innocent, innocent
    _same(local[:24] + local[24:40], out[:24] + out[25:])
    executor.client.wait_for_workers(2, timeout=120)


def test_hostile_corpus_is_contained_through_the_cluster(executor) -> None:
    from test_render_hostile import HOSTILE, NORMAL

    batch = [f for _, f, _ in HOSTILE for f in (f, NORMAL[0])]
    with Renderer(cache=False, workers=1, timeout=TIMEOUT) as r:
        here = r.render(batch)
    with Renderer(cache=False, timeout=TIMEOUT, executor=executor) as r:
        there = r.render(batch)
    for (name, _, allowed), a, b in zip(HOSTILE, here[0::2], there[0::2]):
        assert b.status in allowed, (name, b.status, b.message)
        assert b.status == a.status, name
    normal = here[1]
    for b in there[1::2]:
        assert b.status == "ok" and b.message == "" and (b.image == normal.image).all()


def test_a_worker_with_another_tex_is_refused_by_name(tmp_path: Path) -> None:
    # A real mixed cluster: the second worker's PATH finds a pdflatex that reports another release.
    fake = tmp_path / "bin"
    fake.mkdir()
    real = shutil.which("pdflatex")
    (fake / "pdflatex").write_text(
        f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo "pdfTeX 3.14 (TeX Live 2016)"; exit 0; fi\n'
        f'exec {real} "$@"\n')
    (fake / "pdflatex").chmod(0o755)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", silence_logs=40) as c:
        env = dict(os.environ, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
        dask_cli = Path(sys.executable).with_name("dask")
        worker = subprocess.Popen([str(dask_cli), "worker", c.scheduler_address, "--nthreads", "1",
                                   "--no-dashboard", "--host", "127.0.0.1", "--name", "odd-one"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ex = DaskExecutor(c.scheduler_address)
            ex.client.wait_for_workers(2, timeout=60)
            odd = next(a for a, info in ex.client.scheduler_info()["workers"].items() if info.get("name") == "odd-one")
            with pytest.raises(RenderEnvironmentError, match=rf"worker {odd} .*TeX Live 2016"):
                Renderer(cache=False, executor=ex).render([r"x^2"])
            ex.close()
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def test_local_executor_survives_a_killed_worker(tmp_path: Path) -> None:
    # The local pool breaks as a whole when a process dies; the lost jobs are retried on a new one.
    from markupeval.executor import ChunkRunner

    marker = str(tmp_path / "died")
    jobs = [(0.2, ""), (0.0, marker), (0.2, ""), (0.2, "")]
    ex = LocalExecutor(2)
    try:
        runner = ChunkRunner(ex, _sleep_or_die)
        for job in jobs:
            runner.submit(job)
        got = sorted(result for _, result in runner.drain())
    finally:
        ex.close()
    assert Path(marker).exists() and got == sorted(s for s, _ in jobs)


def _sleep_or_die(job: tuple[float, str]) -> float:
    """Sleeps; with a marker path, kills its worker process the first time (the marker records it)."""
    seconds, marker = job
    if marker and not Path(marker).exists():
        Path(marker).write_text("x")
        os._exit(1)
    time.sleep(seconds)
    return seconds


def test_image_scoring_through_the_cluster_is_the_local_scoring(shared_dir: Path, executor, cluster) -> None:
    # Streaming scoring with renders and comparisons on the cluster: the same statistics.
    from markupeval.image_scoring import score_images

    lines = (shared_dir / "data" / "predictions" / "results65_100.txt").read_text(encoding="utf-8").split("\n")[:60]
    fields = [line.split("\t") for line in lines if line.count("\t") >= 2]
    gold = [f[1] for f in fields]
    preds = [f[2] if k % 7 else None for k, f in enumerate(fields)]  # some missing predictions too
    here = score_images(gold, preds, {"cache": False, "workers": 1})
    there = score_images(gold, preds, {"cache": False, "executor": executor})
    for name in here.stats:
        assert (here.stats[name] == there.stats[name]).all(), name
    assert here.outcomes == there.outcomes


def test_render_command_takes_the_cluster(tmp_path: Path, cluster) -> None:
    from markupeval.cli import main

    (tmp_path / "f.txt").write_text("x^2\n\\frac{a}{b}\n\\frac{a\n", encoding="utf-8")
    address = "dask://" + cluster.scheduler_address.split("://", 1)[1]
    assert main(["render", str(tmp_path / "f.txt"), str(tmp_path / "here"), "--no-cache", "--workers", "1"]) == 0
    assert main(["render", str(tmp_path / "f.txt"), str(tmp_path / "there"), "--no-cache", "--executor", address]) == 0
    assert (tmp_path / "here" / "status.csv").read_text() == (tmp_path / "there" / "status.csv").read_text()
    for name in ("0.png", "1.png"):
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "there" / name).read_bytes()
