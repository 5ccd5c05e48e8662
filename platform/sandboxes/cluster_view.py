"""The live architecture view of a Kubernetes lab: the learner's cluster (nodes, the pods on each,
Deployments and the pods they manage, Services and the pods they select), drawn as a diagram and
compared with the lab's target. sandboxes/architecture.py takes the snapshots; this module reads
the cluster and draws it, as that one does for a Docker engine.

What the learner made is drawn in full; the cluster's own pods (kube-system and the other kube-*
namespaces) are counted on their node, not drawn.
"""

import json

from sandboxes.drawing import TARGET_STYLES, label, plural, target_marks

LIMIT = 25  # pods, Deployments and Services drawn; the rest are counted
# One exec, one JSON list, read with the admin kubeconfig of the node it runs on; jq keeps the
# fields drawn (the full list passes an exec's 64 KiB of output with a dozen pods).
INVENTORY = r"""
kubectl get nodes,pods,deployments,services --all-namespaces -o json --request-timeout=5s | jq -c '{items: [.items[] | {
  kind,
  metadata: (.metadata | {name, namespace, labels, ownerReferences, deletionTimestamp}),
  spec: (.spec | {nodeName, replicas, selector, type, clusterIP, ports,
                  template: {spec: {containers: [(.template.spec.containers // [])[] | {image}]}}}),
  status: (.status | {phase, readyReplicas, conditions: [(.conditions // [])[] | {type, status}],
                      containerStatuses: [(.containerStatuses // [])[] | {ready}],
                      nodeInfo: {kubeletVersion: .nodeInfo.kubeletVersion}})
} | del(.. | nulls)]}'
"""
KINDS = ("nodes", "pods", "deployments", "services")


def system(namespace: str) -> bool:
    return namespace.startswith("kube-")


def qualified(meta: dict) -> str:
    """A learner's object by name, or namespace/name outside the default namespace."""
    namespace = meta.get("namespace", "default")
    return meta["name"] if namespace == "default" else f"{namespace}/{meta['name']}"


def parse_inventory(raw: str) -> dict:
    items = json.loads(raw)["items"]
    model = {kind: [] for kind in KINDS}
    model["system_pods"] = {}
    for item in items:
        kind, meta, spec, status = item["kind"], item["metadata"], item.get("spec", {}), item.get("status", {})
        if kind == "Node":
            conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
            roles = sorted(
                k.rsplit("/", 1)[1] for k in meta.get("labels", {}) if k.startswith("node-role.kubernetes.io/")
            )
            model["nodes"].append(
                {
                    "name": meta["name"],
                    "ready": conditions.get("Ready") == "True",
                    "roles": roles,
                    "version": status.get("nodeInfo", {}).get("kubeletVersion", ""),
                }
            )
        elif system(meta.get("namespace", "")):
            if kind == "Pod":
                node = spec.get("nodeName", "")
                model["system_pods"][node] = model["system_pods"].get(node, 0) + 1
        elif kind == "Pod":
            owner = next((o for o in meta.get("ownerReferences", []) if o.get("controller")), {})
            deployment = ""
            if owner.get("kind") == "ReplicaSet" and "pod-template-hash" in meta.get("labels", {}):
                deployment = owner["name"].rsplit("-", 1)[0]  # <deployment>-<pod template hash>
            if deployment and meta.get("namespace", "default") != "default":
                deployment = f"{meta['namespace']}/{deployment}"
            model["pods"].append(
                {
                    "name": qualified(meta),
                    "namespace": meta.get("namespace", "default"),
                    "node": spec.get("nodeName", ""),
                    "phase": "Terminating" if meta.get("deletionTimestamp") else status.get("phase", "Pending"),
                    "ready": all(c.get("ready") for c in status.get("containerStatuses", []))
                    and bool(status.get("containerStatuses")),
                    "labels": meta.get("labels", {}),
                    "deployment": deployment,
                }
            )
        elif kind == "Deployment":
            model["deployments"].append(
                {
                    "name": qualified(meta),
                    "replicas": spec.get("replicas", 1),
                    "ready": status.get("readyReplicas", 0),
                    "image": ", ".join(
                        c.get("image", "") for c in spec.get("template", {}).get("spec", {}).get("containers", [])
                    ),
                }
            )
        elif kind == "Service" and not (meta["name"] == "kubernetes" and meta.get("namespace") == "default"):
            ports = [
                f"{p.get('port')}" + (f":{p['nodePort']}" if p.get("nodePort") else "") for p in spec.get("ports", [])
            ]
            model["services"].append(
                {
                    "name": qualified(meta),
                    "namespace": meta.get("namespace", "default"),
                    "type": spec.get("type", "ClusterIP"),
                    "ip": spec.get("clusterIP", ""),
                    "ports": ports,
                    "selector": spec.get("selector") or {},
                }
            )
    for kind in ("pods", "deployments", "services"):
        model[kind].sort(key=lambda item: item["name"])
    model["nodes"].sort(key=lambda node: node["name"])
    return model


def selected(service: dict, pods: list[dict]) -> list[dict]:
    """The pods a Service sends traffic to: same namespace, every selector label matching."""
    if not service["selector"]:
        return []
    return [
        pod
        for pod in pods
        if pod["namespace"] == service["namespace"]
        and all(pod["labels"].get(k) == v for k, v in service["selector"].items())
    ]


def counts(model: dict) -> dict:
    return {kind: len(model[kind]) for kind in KINDS}


def summary(model: dict) -> str:
    return ", ".join(plural(len(model[kind]), kind[:-1]) for kind in KINDS)


# --- the target, compared ---------------------------------------------------------------------
def compare(model: dict, target: dict) -> dict:
    """What the lab's target wants and the cluster lacks (problems, as sentences), what is there
    beyond it (extra), and the parts to draw as missing."""
    deployments = {d["name"]: d for d in model["deployments"]}
    services = {s["name"]: s for s in model["services"]}
    pods = {p["name"]: p for p in model["pods"]}
    problems, missing = [], {"deployments": [], "services": [], "pods": [], "links": []}
    for name in target.get("deployments", []):
        d = deployments.get(name)
        if d is None:
            problems.append(f"✗ Deployment {name} does not exist")
            missing["deployments"].append(name)
        elif d["ready"] < d["replicas"] or not d["replicas"]:
            problems.append(f"✗ Deployment {name} has {d['ready']} of {d['replicas']} replicas ready")
    for name in target.get("services", []):
        if name not in services:
            problems.append(f"✗ Service {name} does not exist")
            missing["services"].append(name)
    for name in target.get("pods", []):
        p = pods.get(name)
        if p is None:
            problems.append(f"✗ pod {name} does not exist")
            missing["pods"].append(name)
        elif p["phase"] != "Running":
            problems.append(f"✗ pod {name} is {p['phase']}, not Running")
    for service, deployment in target.get("links", []):
        if service not in services or deployment not in deployments:
            continue  # already said
        if not any(p["deployment"] == deployment for p in selected(services[service], model["pods"])):
            problems.append(f"✗ Service {service} selects no pod of Deployment {deployment}")
            missing["links"].append([service, deployment])
    managed = set(target.get("deployments", []))
    extra = [("deployments", d) for d in deployments if d not in managed]
    extra += [("services", s) for s in services if s not in target.get("services", [])]
    extra += [
        ("pods", p["name"])
        for p in model["pods"]
        if p["name"] not in target.get("pods", []) and p["deployment"] not in managed
    ]
    return {"problems": problems, "missing": missing, "extra": extra}


# --- the diagram ------------------------------------------------------------------------------
def mermaid(model: dict, node: str, diff: dict | None = None) -> str:
    """The cluster as a Mermaid flowchart: a box per node holding its pods, Deployments and
    Services beside them; with a diff, what the target lacks dashed in red, the rest in grey."""
    missing = diff["missing"] if diff else {"deployments": [], "services": [], "pods": [], "links": []}
    extra = set(diff["extra"]) if diff else set()
    lines = ["flowchart LR"]
    ids: dict[tuple[str, str], str] = {}

    def new_id(kind: str, name: str) -> str:
        ids[(kind, name)] = f"{kind[0]}{len(ids)}"
        return ids[(kind, name)]

    pods_by_node: dict[str, list[dict]] = {}
    for pod in model["pods"][:LIMIT]:
        pods_by_node.setdefault(pod["node"], []).append(pod)
    lines.append(f'  kubectl["kubectl on {label(node)}"] -- "HTTPS :6443" --> api["kube-apiserver"]')
    for i, n in enumerate(model["nodes"]):
        role = "control plane" if "control-plane" in n["roles"] else "worker"
        state = "Ready" if n["ready"] else "NotReady"
        lines.append(f'  subgraph node{i}["{label(n["name"])} · {role} · {state} · {label(n["version"], 16)}"]')
        lines.append(f'    node{i}_kubelet["kubelet + containerd"]')
        if model["system_pods"].get(n["name"]):
            lines.append(f'    node{i}_system["{plural(model["system_pods"][n["name"]], "system pod")}"]')
        for pod in pods_by_node.pop(n["name"], []):
            lines.append(f'    {new_id("pods", pod["name"])}["{label(pod["name"])}<br/>{pod["phase"]}"]')
        lines.append("  end")
        lines.append(f"  api --> node{i}")
        lines.append(f"  class node{i}_kubelet,node{i}_system system")
    unscheduled = [pod for pods in pods_by_node.values() for pod in pods] + [
        {"name": name, "phase": "missing"} for name in missing["pods"]
    ]
    if unscheduled:
        lines.append('  subgraph pending["pending or missing"]')
        for pod in unscheduled:
            lines.append(f'    {new_id("pods", pod["name"])}["{label(pod["name"])}<br/>{pod["phase"]}"]')
        lines.append("  end")
    if len(model["pods"]) > LIMIT:
        lines.append(f'  pods_more["… and {len(model["pods"]) - LIMIT} more pods"]')

    deployments = model["deployments"][:LIMIT] + [{"name": n, "missing": True} for n in missing["deployments"]]
    for d in deployments:
        text = "missing" if d.get("missing") else f"{d['ready']}/{d['replicas']} ready<br/>{label(d['image'], 32)}"
        lines.append(f'  {new_id("deployments", d["name"])}[["Deployment {label(d["name"])}<br/>{text}"]]')
        lines.append(f"  api --> {ids[('deployments', d['name'])]}")
    services = model["services"][:LIMIT] + [{"name": n, "missing": True} for n in missing["services"]]
    for s in services:
        text = "missing" if s.get("missing") else f"{s['type']} {s['ip']} :{','.join(s['ports'])}"
        lines.append(f'  {new_id("services", s["name"])}(["Service {label(s["name"])}<br/>{label(text, 40)}"])')
    for pod in model["pods"][:LIMIT]:
        me = ids[("pods", pod["name"])]
        if ("deployments", pod["deployment"]) in ids:
            lines.append(f"  {ids[('deployments', pod['deployment'])]} -. manages .-> {me}")
        state = "running" if pod["phase"] == "Running" and pod["ready"] else "pending"
        lines.append(f"  class {me} {'extra' if ('pods', pod['name']) in extra else state}")
    for s in model["services"][:LIMIT]:
        for pod in selected(s, model["pods"][:LIMIT]):
            lines.append(f"  {ids[('services', s['name'])]} --> {ids[('pods', pod['name'])]}")
    for service, deployment in missing["links"]:
        if ("services", service) in ids and ("deployments", deployment) in ids:
            lines.append(f"  {ids[('services', service)]} -. selects nothing of .-> {ids[('deployments', deployment)]}")
    lines += target_marks(ids, missing, extra, ("deployments", "services", "pods"), drawn="pods")
    lines += [
        "  classDef running fill:#dafbe1,stroke:#1a7f37,color:#0f3d1f",
        "  classDef pending fill:#fff8c5,stroke:#9a6700,color:#3b2300",
        "  classDef system fill:#eaeef2,stroke:#6e7781,color:#24292f",
        *TARGET_STYLES,
    ]
    return "\n".join(lines)
