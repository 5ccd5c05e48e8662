#!/usr/bin/env python
"""Kubernetes clusters in sandboxes: start -> every node Ready, a pod -> Running, idle memory.

Cold start: a cluster of 1 and of 3 nodes brought up by `labs/runner.bring_up`, the function a
learner's session uses (without the web tier, Celery and the relay around it, which
start_latency measures for the other profiles: they add well under a second), on the image
already built; timed until every node is Ready, CoreDNS answers and `kubectl get nodes` answers
on the first node. Baseline in the same run: a bare `docker run` + `docker exec` of the same
image (what any container of it costs before Kubernetes starts).
A pod created -> Running: `kubectl run` of busybox in the one-node cluster, timed inside the node.
Idle memory: each cluster left idle, then its nodes' cgroup working sets (+ shim PSS) summed;
clusters per 24 GB host = (24 GiB - 2 GiB) / that.
Warm start: a cluster of 1 and of 3 nodes made ready by the warm pool (`sandboxes/pool.warm_up`,
untimed), then timed from the claim (`pool.claim`, as a session's start takes it) through
`bring_up` (the lab's set-up, the kubeconfig shared to every node) until `kubectl get nodes`
shows every node Ready.
Promise: warm p50 <= 2 s; cold p50 <= 30 s (1 node), <= 45 s (3 nodes); pod -> Running p50 <= 3 s;
>= 20 idle one-node clusters per host.
"""

import time
import uuid
from types import SimpleNamespace

import common

IMAGE = "berth/kubernetes:latest"
GiB = 2**30
POD_RUNNING = r"""
start=$(date +%s.%N)
kubectl run "$1" --image=busybox --restart=Never -- sleep 600 > /dev/null || exit 1
until [ "$(kubectl get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; do sleep 0.05; done
awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", b - a }'
"""


def main():
    opts = common.args(__doc__.splitlines()[0])
    rounds = 1 if opts.quick else 3
    pods = 3 if opts.quick else 10
    settle = 10 if opts.quick else 30
    report = common.Report("kubernetes_clusters", "Kubernetes clusters: start, pods, idle memory", opts.quick)
    common.setup("kubernetes_clusters")

    from labs import runner
    from labs.format import LabDef
    from sandboxes import pool

    be = common.backend()
    samples = {"bare": [], 1: [], 3: [], "warm1": [], "warm3": []}
    memory = {1: [], 3: []}
    pod_times = []

    def bare_start():
        name = common.baseline_name("k8s")
        t = time.monotonic()
        common.docker_cli("run", "-d", "--network", "none", "--name", name, "--entrypoint", "sleep", IMAGE, "600")
        common.docker_cli("exec", name, "true")
        samples["bare"].append(time.monotonic() - t)
        common.docker_cli("rm", "-f", name)

    def cluster(nodes: int, measure_pods: bool):
        tag = uuid.uuid4().hex[:6]
        names = pool.cluster_nodes(nodes)
        lab = LabDef("bench-k8s", "(bench)", "bench", IMAGE, "kubernetes", 60, names, "")
        network = f"{common.PREFIX}-k8s-{tag}-net" if nodes > 1 else None
        ids: dict[str, str] = {}
        labels = {"berth.prefix": common.PREFIX, "berth.labtest": "bench-k8s"}
        t = time.monotonic()
        try:
            runner.bring_up(
                be,
                lab,
                {n: f"{common.PREFIX}-k8s-{tag}-{n}" for n in names},
                labels,
                network,
                created=ids.__setitem__,
            )
            answer = be.exec(ids["node1"], "kubectl get nodes --no-headers | grep -c ' Ready '", 30)
            elapsed = time.monotonic() - t
            if answer.output.strip() != str(nodes):
                report.fail(f"{nodes}-node cluster: kubectl says {answer.output.strip()!r} nodes Ready")
                return
            samples[nodes].append(elapsed)
            if measure_pods:
                for i in range(pods):
                    result = be.exec(ids["node1"], POD_RUNNING.replace('"$1"', f"p{i}"), 60)
                    if result.exit_code == 0 and result.output.strip():
                        pod_times.append(float(result.output.strip()))
            time.sleep(settle)
            usage = [common.container_usage(be.api, sandbox_id) for sandbox_id in ids.values()]
            memory[nodes].append(sum(u["working_set"] + u["shim_pss"] for u in usage))
        finally:
            runner.tear_down(be, ids, network)

    def warm_cluster(nodes: int):
        names = pool.cluster_nodes(nodes)
        lab = LabDef("bench-k8s", "(bench)", "bench", IMAGE, "kubernetes", 60, names, "")
        if not pool.warm_up("local", "kubernetes", IMAGE, nodes):
            report.fail(f"a warm {nodes}-node cluster could not be made")
            return
        tag = uuid.uuid4().hex[:6]
        sandboxes = {n: SimpleNamespace(name=f"{common.PREFIX}-k8s-{tag}-{n}") for n in names}
        ids, network = {}, None
        t = time.monotonic()
        try:
            claimed = pool.claim("local", sandboxes, IMAGE, "kubernetes")
            if claimed is None:
                report.fail(f"the warm {nodes}-node cluster could not be claimed")
                return
            ids, network = claimed
            labels = {"berth.prefix": common.PREFIX, "berth.labtest": "bench-k8s"}
            runner.bring_up(be, lab, {n: s.name for n, s in sandboxes.items()}, labels, claim=lambda: ids)
            answer = be.exec(ids["node1"], "kubectl get nodes --no-headers | grep -c ' Ready '", 30)
            elapsed = time.monotonic() - t
            if answer.output.strip() != str(nodes):
                report.fail(f"warm {nodes}-node cluster: kubectl says {answer.output.strip()!r} nodes Ready")
                return
            samples[f"warm{nodes}"].append(elapsed)
        finally:
            runner.tear_down(be, ids, network or None)

    # Quick (CI's pass, which proves the bench still works): one-node clusters only; the tests
    # start multi-node ones, cold and warm, through the same bring-up.
    sizes = (1,) if opts.quick else (1, 3)
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", flush=True)
        bare_start()
        for nodes in sizes:
            cluster(nodes, measure_pods=nodes == 1)
        for nodes in sizes:
            warm_cluster(nodes)

    bare = common.summary(samples["bare"])
    for nodes, promise in ((1, 30), (3, 45)):
        s = common.summary(samples[nodes])
        if not s["n"]:
            continue
        report.row(
            f"cold start -> {nodes} node(s) Ready, CoreDNS up, kubectl answering (p50 / p95, n={s['n']})",
            f"{common.sec(s['p50'])} / {common.sec(s['p95'])}",
            f"bare docker run+exec p50 {common.sec(bare['p50'])}",
            common.ratio(s["p50"], bare["p50"]),
            f"p50 <= {promise} s",
            common.verdict(s["p50"] <= promise),
        )
    for nodes in (1, 3):
        s = common.summary(samples[f"warm{nodes}"])
        if s["n"]:
            report.row(
                f"warm start (from the pool) -> {nodes} node(s) Ready, kubectl answering (p50 / p95, n={s['n']})",
                f"{common.sec(s['p50'])} / {common.sec(s['p95'])}",
                f"bare docker run+exec p50 {common.sec(bare['p50'])}",
                common.ratio(s["p50"], bare["p50"]),
                "p50 <= 2 s",
                common.verdict(s["p50"] <= 2),
            )
    p = common.summary(pod_times)
    if p["n"]:
        report.row(
            f"a pod created -> Running (p50 / p95, n={p['n']})",
            f"{common.sec(p['p50'])} / {common.sec(p['p95'])}",
            promise="p50 <= 3 s",
            verdict=common.verdict(p["p50"] <= 3),
        )
    for nodes in (1, 3):
        if memory[nodes]:
            per = sorted(memory[nodes])[len(memory[nodes]) // 2]
            fit = int((24 * GiB - 2 * GiB) / per)
            promise, ok = ("", "")
            if nodes == 1:
                promise, ok = ">= 20 one-node clusters per host", common.verdict(fit >= 20)
            report.row(
                f"idle {nodes}-node cluster: working set + shims (median of {len(memory[nodes])})",
                f"{common.mib(per)} -> {fit} clusters per 24 GB host",
                promise=promise,
                verdict=ok,
            )
    report.details = {"samples": {str(k): v for k, v in samples.items()}, "pods": pod_times, "memory": memory}
    report.save()


if __name__ == "__main__":
    main()
