#!/usr/bin/env python
"""Idle density: what one idle sandbox of each profile costs the host, and how many would fit.

K sandboxes of a kind are started through the backend (`get_backend("local")` with
`pool.spec_for`, the settings a learner's sandbox gets), waited until ready (for the docker
profile: its inner engine, registry and preloaded images), left idle to settle, then measured:
- host view: MemAvailable before minus after, per sandbox (everything: cgroup, shim, kernel);
- per container: cgroup memory (all, and anonymous only), its containerd shim's PSS, and the
  CPU it burns while idle (cgroup CPU time over a window).
Baseline in the same run: idle bare `docker run -d --network none berth/base sleep infinity`.

Extrapolation to the promise's 2-core / 24 GB host: (24 GiB - 2 GiB kept for the OS and the
platform) / (working set + shim PSS) per sandbox (working set = cgroup memory minus inactive page
cache, what cAdvisor and `kubectl top` call it; the rest is cache the kernel takes back under
pressure), and separately the number whose idle CPU would fill 80 % of 2 cores. The host's
MemAvailable drop is reported beside it, but other work on this host moves it.
Promise: >= 300 idle standard, >= 100 idle docker-profile.
"""

import threading
import time

import common

GiB = 2**30
HOST_RAM = 24 * GiB
RESERVE = 2 * GiB


def verdict_for(fit, fit_host, want):
    if fit < want:
        return "MISSED (extrapolated)"
    if fit_host is not None and fit_host < want:
        return "met by cgroup + shim, MISSED by the host's MemAvailable drop (noisy): uncertain"
    return "met (extrapolated)"


def main():
    opts = common.args(__doc__.splitlines()[0])
    counts = {"bare": 3, "standard": 3, "docker": 1} if opts.quick else {"bare": 60, "standard": 60, "docker": 20}
    settle = 2 if opts.quick else 20
    cpu_window = 3 if opts.quick else 20
    report = common.Report("idle_density", "Idle sandboxes per host", opts.quick)
    common.setup("idle_density")

    from sandboxes import pool

    be = common.backend()
    results = {}

    def avail_avg(n=5, every=0.4):
        xs = []
        for _ in range(n):
            xs.append(common.mem_available())
            time.sleep(every)
        return sum(xs) / len(xs)

    def start_bare(i):
        name = common.baseline_name(f"idle{i}")
        common.docker_cli(
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "--label",
            "berthbench.baseline=1",
            common.STANDARD_IMAGE,
            "sleep",
            "infinity",
        )
        return be.api.inspect_container(name)["Id"]

    def start_sandbox(profile, image, i):
        name = f"{common.PREFIX}-idle-{profile}-{i}"
        spec = pool.spec_for(name, image, profile, "node1", {"berth.prefix": common.PREFIX, "berthbench.idle": "1"})
        cid = be.create(spec)
        be.start(cid)
        be.wait_ready(cid, 240, lambda phase: None)
        return cid

    kinds = {
        "bare": start_bare,
        "standard": lambda i: start_sandbox("standard", common.STANDARD_IMAGE, i),
        "docker": lambda i: start_sandbox("docker", common.DOCKER_IMAGE, i),
    }
    print(f"idle_density: {counts}", flush=True)
    try:
        for kind, k in counts.items():
            common.cleanup_engine()
            time.sleep(1 if opts.quick else 5)
            before = avail_avg()
            t0 = time.monotonic()
            ids: list[str] = []
            lock = threading.Lock()
            errors: list[str] = []

            def worker(indices, kind=kind, ids=ids, lock=lock, errors=errors):
                for i in indices:
                    if common.mem_available() < 3 * GiB:
                        errors.append("stopped: fewer than 3 GiB left")
                        return
                    try:
                        cid = kinds[kind](i)
                    except Exception as e:  # noqa: BLE001 - reported below
                        errors.append(f"{type(e).__name__}: {e}")
                        return
                    with lock:
                        ids.append(cid)

            threads = [threading.Thread(target=worker, args=(range(j, k, 3),)) for j in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            made_in = time.monotonic() - t0
            if errors:
                report.note(f"{kind}: {errors[0]}")
                if not ids:
                    raise RuntimeError(f"no {kind} sandbox started: {errors[0]}")
            time.sleep(settle)
            after = avail_avg()
            usage0 = {cid: common.container_usage(be.api, cid) for cid in ids}
            time.sleep(cpu_window)
            usage1 = {cid: common.container_usage(be.api, cid) for cid in ids}
            n = len(ids)
            host_per = (before - after) / n
            mem = [u["memory"] for u in usage1.values()]
            ws = [u["working_set"] for u in usage1.values()]
            anon = [u["anon"] for u in usage1.values()]
            shim = [u["shim_pss"] for u in usage1.values()]
            cpu = sum(usage1[c]["cpu_seconds"] - usage0[c]["cpu_seconds"] for c in ids) / cpu_window / n
            cg_per = (sum(ws) + sum(shim)) / n
            results[kind] = {
                "n": n,
                "started_in_s": round(made_in, 1),
                "host_delta_per": host_per,
                "cgroup_mem_per": sum(mem) / n,
                "working_set_per": sum(ws) / n,
                "cgroup_anon_per": sum(anon) / n,
                "shim_pss_per": sum(shim) / n,
                "cgroup_plus_shim_per": cg_per,
                "idle_cpu_cores_per": cpu,
            }
            print(
                f"  {kind}: {n} idle; host {common.mib(host_per)}/sandbox, cgroup {common.mib(sum(mem) / n)} "
                f"(anon {common.mib(sum(anon) / n)}) + shim {common.mib(sum(shim) / n)}; idle CPU "
                f"{cpu * 1000:.1f} millicores each",
                flush=True,
            )
    except Exception as e:
        report.fail(f"{type(e).__name__}: {e}")
    finally:
        common.cleanup_all()

    report.details["per_kind"] = results
    base = results.get("bare")
    promise = {"standard": 300, "docker": 100}
    for kind in ("standard", "docker", "bare"):
        r = results.get(kind)
        if not r:
            continue
        per = r["cgroup_plus_shim_per"]
        fit_mem = int((HOST_RAM - RESERVE) / per) if per > 0 else 0
        fit_cpu = int(2 * 0.8 / r["idle_cpu_cores_per"]) if r["idle_cpu_cores_per"] > 0 else 10**6
        fit = min(fit_mem, fit_cpu)
        host = r["host_delta_per"]
        fit_host = int((HOST_RAM - RESERVE) / host) if host > 0 else None  # None: noise swamped it
        r.update(fit_mem=fit_mem, fit_cpu=fit_cpu, fit=fit, fit_host=fit_host)
        value = (
            f"{common.mib(per)} per sandbox (working set {common.mib(r['working_set_per'])} + shim "
            f"{common.mib(r['shim_pss_per'])}; cgroup total {common.mib(r['cgroup_mem_per'])}, anon "
            f"{common.mib(r['cgroup_anon_per'])}; host MemAvailable drop {common.mib(r['host_delta_per'])}); "
            f"idle CPU {r['idle_cpu_cores_per'] * 1000:.1f} m; measured "
            f"{r['n']} at once -> ~{fit} per 24 GB/2-core host (memory {fit_mem}, CPU {fit_cpu}; by the host's "
            f"MemAvailable drop: {fit_host if fit_host is not None else 'n/a, drop <= 0'})"
        )
        if kind == "bare":
            report.row("baseline: idle bare docker run berth/base sleep infinity", value)
            continue
        report.row(
            f"idle {kind}-profile sandboxes",
            value,
            f"bare: {common.mib(base['cgroup_plus_shim_per'])}" if base else "",
            common.ratio(per, base["cgroup_plus_shim_per"]) if base else "",
            f">= {promise[kind]} per host",
            verdict_for(fit, fit_host, promise[kind]),
        )
    report.note(
        "per-sandbox memory = cgroup working set + containerd shim PSS; the host's MemAvailable drop is "
        "shown beside it but other work on this host moves it (it can even be negative)"
    )
    report.note(f"extrapolation keeps {RESERVE // GiB} GiB for the OS and the platform; CPU limit = 80% of 2 cores")
    report.save()
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
