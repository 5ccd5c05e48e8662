#!/usr/bin/env python
"""What remapping users costs a sandbox: start -> ready and idle memory, remapped vs host users.

Berth's engine remaps users (scripts/lib.sh): a sandbox's root is host uid 1000000, not the
host's root. The baseline, in the same run on the same engine and images, is the same sandbox
with the host's users (`userns_mode=host`, what `docker run --userns=host` does): how every
sandbox ran before remapping, the "runc sandbox" of the comparison.

Start: the backend alone (`get_backend("local")` with `pool.spec_for`, the settings a learner's
sandbox gets): create, start (which, remapped, hands Docker and Kubernetes sandboxes their
cgroups), wait until ready (for the docker profile: its inner engine, registry and busybox loaded;
for a Kubernetes node: its one-node control plane), then `exec true`; the two kinds interleaved by rounds.
start_latency measures the whole path (web, Celery, relay) on the remapped engine.
Idle: K sandboxes of each kind started, left to settle, then per sandbox the cgroup working set
plus its shim's PSS (as idle_density), and the sandboxes that fit a 24 GB / 2-core host.
Promise (shared PRODUCT.md, issue 16): starts stay within the cold-start promises (p50 <= 3 s,
p95 <= 6 s; a one-node cluster p50 <= 30 s), and the cost against host users is measured.
"""

import threading
import time

import common

GiB = 2**30
HOST_RAM = 24 * GiB
RESERVE = 2 * GiB
PROFILES = {
    "standard": common.STANDARD_IMAGE,
    "docker": common.DOCKER_IMAGE,
    "kubernetes": "berth/kubernetes:latest",  # ready = a one-node cluster's control plane up
}
# The promises a start keeps: cold start (PRODUCT.md), a one-node cluster cold (kubernetes_clusters)
START_PROMISE = {"standard": (3.0, 6.0), "docker": (3.0, 6.0), "kubernetes": (30.0, 60.0)}
KINDS = ("remapped", "host-users")


def main():
    opts = common.args(__doc__.splitlines()[0])
    # --quick (CI) proves the bench works, briefly: no Kubernetes node (kubernetes_clusters starts those)
    rounds = (
        {"standard": 1, "docker": 1, "kubernetes": 0} if opts.quick else {"standard": 10, "docker": 10, "kubernetes": 3}
    )
    idle_counts = {"standard": 2} if opts.quick else {"standard": 20, "docker": 10}
    settle = 2 if opts.quick else 15
    report = common.Report("userns_cost", "What remapping users costs a sandbox", opts.quick)
    common.setup("userns_cost")

    from sandboxes import pool
    from sandboxes.backends.docker import profiles

    be = common.backend()
    if not be.remaps_users:
        report.fail("Berth's engine does not remap users (BERTH_ENGINE_USERNS=0): nothing to compare")
        report.save()
        return 1

    made_with = profiles.host_config

    def host_config(kind):
        def config(*args, **kwargs):
            options, raw = made_with(*args, **kwargs)
            return ({**options, "userns_mode": "host"} if kind == "host-users" else options), raw

        return config

    def start(kind, profile, name, labels):
        profiles.host_config = host_config(kind)  # this process only; restored below
        try:
            spec = pool.spec_for(name, PROFILES[profile], profile, "node1", {"berth.prefix": common.PREFIX, **labels})
            cid = be.create(spec)
        finally:
            profiles.host_config = made_with
        be.start(cid)
        be.wait_ready(cid, 240, lambda phase: None)
        return cid

    def timed_start(kind, profile, i):
        t0 = time.perf_counter()
        cid = start(kind, profile, f"{common.PREFIX}-userns-{kind}-{profile}-{i}", {"berthbench.userns": "1"})
        result = be._run(cid, ["true"])
        took = time.perf_counter() - t0
        uid_map = be._run(cid, ["cat", "/proc/self/uid_map"]).output.split()
        be.remove(cid)
        if result.exit_code != 0:
            raise RuntimeError(f"exec true in a {kind} {profile} sandbox: {result.exit_code}")
        root = int(uid_map[1]) if len(uid_map) >= 3 else -1
        if (root == 0) != (kind == "host-users"):
            raise RuntimeError(f"a {kind} {profile} sandbox's root is host uid {root}")
        return took

    series = {f"{kind}-{p}": [] for p in PROFILES for kind in KINDS}
    idle = {}
    print(f"userns_cost: rounds {rounds}", flush=True)
    try:
        common.cleanup_engine()
        for profile in (p for p in PROFILES if rounds[p]):  # untimed: a first start reads the image from disk
            for kind in KINDS:
                timed_start(kind, profile, "first")
        for i in range(max(rounds.values())):
            for profile in (p for p in PROFILES if i < rounds[p]):
                for kind in KINDS:
                    series[f"{kind}-{profile}"].append(timed_start(kind, profile, i))
            print(f"  round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in series.items() if v), flush=True)
        for profile, k in idle_counts.items():
            for kind in KINDS:
                common.cleanup_engine()
                ids: list[str] = []
                lock = threading.Lock()

                def worker(indices, kind=kind, profile=profile, ids=ids, lock=lock):
                    for i in indices:
                        cid = start(
                            kind, profile, f"{common.PREFIX}-idle-{kind}-{profile}-{i}", {"berthbench.idle": "1"}
                        )
                        with lock:
                            ids.append(cid)

                threads = [threading.Thread(target=worker, args=(range(j, k, 3),)) for j in range(3)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                if len(ids) != k:
                    raise RuntimeError(f"{len(ids)} of {k} idle {kind} {profile} sandboxes started")
                time.sleep(settle)
                usage = [common.container_usage(be.api, cid) for cid in ids]
                per = sum(u["working_set"] + u["shim_pss"] for u in usage) / k
                idle[f"{kind}-{profile}"] = {"n": k, "per_sandbox": per, "fit": int((HOST_RAM - RESERVE) / per)}
                print(f"  idle {kind} {profile}: {k} at {common.mib(per)} each", flush=True)
    except Exception as e:
        report.fail(f"{type(e).__name__}: {e}")
    finally:
        common.cleanup_all()

    stats = {k: common.summary(v) for k, v in series.items()}
    report.details["series_seconds"] = series
    report.details["stats"] = stats
    report.details["idle"] = idle
    for profile in PROFILES:
        st, base = stats[f"remapped-{profile}"], stats[f"host-users-{profile}"]
        if not st.get("n") or not base.get("n"):
            continue
        report.row(
            f"start -> ready, {profile} profile, users remapped (backend alone, n={st['n']})",
            f"p50 {common.sec(st['p50'])}, p95 {common.sec(st['p95'])}",
            f"host users: p50 {common.sec(base['p50'])}, p95 {common.sec(base['p95'])}",
            f"{common.ratio(st['p50'], base['p50'])} (p50)",
            f"p50 <= {START_PROMISE[profile][0]:g} s, p95 <= {START_PROMISE[profile][1]:g} s (cold start)",
            common.verdict(st["p50"] <= START_PROMISE[profile][0] and st["p95"] <= START_PROMISE[profile][1]),
        )
    for profile in idle_counts:
        mine, base = idle.get(f"remapped-{profile}"), idle.get(f"host-users-{profile}")
        if not mine or not base:
            continue
        report.row(
            f"idle {profile}-profile sandbox, users remapped (n={mine['n']})",
            f"{common.mib(mine['per_sandbox'])} per sandbox -> ~{mine['fit']} per 24 GB host",
            f"host users: {common.mib(base['per_sandbox'])} -> ~{base['fit']}",
            common.ratio(mine["per_sandbox"], base["per_sandbox"]),
            "measured (issue 16: the cost of the runtime)",
            "measured",
        )
    report.note(
        "host users = the same sandbox with userns_mode=host on the same engine: its image files stay owned "
        "by the remapped root, which root in the sandbox overrides; memory = cgroup working set + shim PSS"
    )
    report.save()
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
