#!/usr/bin/env python
"""Sandboxes on a Kubernetes cluster (the kubernetes backend): start -> prompt, and 100 starts.

The cluster: two nodes started from Berth's node image on Berth's engine (tests/kube_host.py, as
the tests start it), both taking sandboxes, berth/base loaded into each node's containerd.
Cold: a standard sandbox created (a pod), waited for, and a login shell opened through the API
server's exec stream until its prompt is read. Warm: a pod made ready by the warm pool
(`pool.warm_up`, untimed), then timed from the claim (`pool.claim`) to the prompt. Baseline in
the same run: the same cold start -> prompt on Berth's Docker engine.
100 starts: 100 standard sandboxes asked for within a minute (one every 0.6 s); after the minute
each is running, or waiting in the scheduler's line (the cluster's CPU is spoken for), or failed.
Promise: warm p50 <= 1 s, cold p50 <= 5 s; 100 starts in a minute all served or queued.
"""

import asyncio
import sys
import threading
import time
import uuid

import common

IMAGE = common.STANDARD_IMAGE
ROUNDS, QUICK_ROUNDS = 10, 3
STARTS, QUICK_STARTS = 100, 20


def prompt_after(be, sandbox_id: str) -> None:
    """Open a login shell and read until its prompt ends ("# ")."""

    async def read():
        tty = await asyncio.to_thread(be.open_tty, sandbox_id, 24, 80)
        seen = b""
        while b"# " not in seen:
            chunk = await asyncio.wait_for(tty.read(4096), 30)
            if not chunk:
                raise RuntimeError(f"the shell of {sandbox_id} ended before its prompt: {seen!r}")
            seen += chunk
        tty.close()

    asyncio.run(read())


def main():
    opts = common.args(__doc__.splitlines()[0])
    kubeconfig = common.VAR / "kube-host" / "kubeconfig"
    # the one namespace docs/kubernetes/berth-rbac.yaml gives Berth's account (tests/kube_host.py)
    address = f"k8s:{kubeconfig}?namespace=berth-sandboxes"
    common.setup("kubernetes_backend", BERTH_DOCKER_HOSTS=f"local={common.ENGINE},cluster={address}")
    report = common.Report("kubernetes_backend", "Sandboxes on a Kubernetes cluster", opts.quick)

    sys.path.insert(0, str(common.ROOT))
    from tests import kube_host

    from sandboxes import pool
    from sandboxes.backends import get_backend
    from sandboxes.backends.base import SandboxSpec

    docker_be = common.backend()
    kube_host.IMAGES = [IMAGE]
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    print("starting the two-node cluster", flush=True)
    cluster = kube_host.start(docker_be, kubeconfig.parent)
    be = get_backend("cluster")
    samples = {"cold": [], "warm": [], "docker": []}

    def spec(name: str) -> SandboxSpec:
        return SandboxSpec(
            name=f"{common.PREFIX}-{name}",
            image=IMAGE,
            profile="standard",
            hostname="node1",
            labels={"berth.prefix": common.PREFIX},
            memory_mb=256,
            cpus=0.5,
            pids=256,
        )

    def cold(backend, into: str) -> None:
        sandbox_id = None
        t = time.monotonic()
        try:
            sandbox_id = backend.create(spec(f"cold-{uuid.uuid4().hex[:6]}"))
            backend.start(sandbox_id)
            backend.wait_ready(sandbox_id, 120, lambda phase: None)
            prompt_after(backend, sandbox_id)
            samples[into].append(time.monotonic() - t)
        finally:
            if sandbox_id:
                backend.remove(sandbox_id)

    def warm() -> None:
        from types import SimpleNamespace

        if not pool.warm_up("cluster", "standard", IMAGE, 1):
            report.fail("a warm pod could not be made")
            return
        ids = {}
        t = time.monotonic()
        try:
            node = SimpleNamespace(name=f"{common.PREFIX}-w-{uuid.uuid4().hex[:6]}")
            claimed = pool.claim("cluster", {"node1": node}, IMAGE, "standard")
            if claimed is None:
                report.fail("the warm pod could not be claimed")
                return
            ids = claimed[0]
            prompt_after(be, ids["node1"])
            samples["warm"].append(time.monotonic() - t)
        finally:
            for sandbox_id in ids.values():
                be.remove(sandbox_id)

    def many(count: int) -> dict:
        made, failed = [], []

        def one(i: int):
            try:
                made.append(be.create(spec(f"many-{i}")))
            except Exception as e:  # noqa: BLE001 - counted, not raised: the bench reports it
                failed.append(str(e)[:200])

        threads = []
        started = time.monotonic()
        for i in range(count):
            thread = threading.Thread(target=one, args=(i,))
            thread.start()
            threads.append(thread)
            time.sleep(60 / count)
        for thread in threads:
            thread.join()
        time.sleep(max(0.0, 60 - (time.monotonic() - started)))
        states = {"running": 0, "queued": 0, "failed": len(failed)}
        for sandbox_id in made:
            pod = be._read(sandbox_id)
            phase, _ = be._phase(pod) if pod else ("failed", "")
            states["running" if phase == "running" else "failed" if phase == "failed" else "queued"] += 1
        for sandbox_id in made:
            be.remove(sandbox_id)
        return {**states, "errors": failed[:3]}

    try:
        rounds = QUICK_ROUNDS if opts.quick else ROUNDS
        for r in range(rounds):
            print(f"round {r + 1}/{rounds}", flush=True)
            cold(docker_be, "docker")
            cold(be, "cold")
            warm()
        starts = many(QUICK_STARTS if opts.quick else STARTS)
    finally:
        kube_host.stop(docker_be, cluster)

    base = common.summary(samples["docker"])
    for kind, promise in (("cold", 5), ("warm", 1)):
        s = common.summary(samples[kind])
        if s["n"]:
            report.row(
                f"{kind} start -> prompt on the cluster (p50 / p95, n={s['n']})",
                f"{common.sec(s['p50'])} / {common.sec(s['p95'])}",
                f"Docker engine, cold, p50 {common.sec(base['p50'])}" if base["n"] else "",
                common.ratio(s["p50"], base["p50"]) if base["n"] else "",
                f"p50 <= {promise} s",
                common.verdict(s["p50"] <= promise),
            )
    count = QUICK_STARTS if opts.quick else STARTS
    report.row(
        f"{count} starts asked within a minute, after the minute",
        f"{starts['running']} running, {starts['queued']} queued by the scheduler, {starts['failed']} failed",
        promise="all served or queued",
        verdict=common.verdict(starts["failed"] == 0),
    )
    if starts["errors"]:
        report.note(f"failures: {starts['errors']}")
    report.details = {"samples": samples, "starts": starts}
    report.save()


if __name__ == "__main__":
    main()
