"""The sandbox contract on a Kubernetes cluster's API: a sandbox is a pod, placed by the cluster's
scheduler; Berth keeps its own quotas and waiting line as on Docker hosts.

A host of BERTH_DOCKER_HOSTS whose address is `k8s:<kubeconfig>` (or `k8s:in-cluster`, for
Berth running in the cluster), with `?namespace=<name>` (default berth-sandboxes), is a cluster.
`&nested=<RuntimeClass>` offers Docker and Kubernetes days there too, in pods of that class
(docs/kubernetes.md).
"""

import base64
import logging
import shlex
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from kubernetes import client, config
from kubernetes.utils.quantity import parse_quantity
from urllib3.exceptions import HTTPError

from sandboxes.backends.base import ExecResult, SandboxBackend, SandboxError, SandboxInfo, SandboxSpec, Tty
from sandboxes.backends.inside import READY_WATCH, ExecOutput, failure_of, phase_of
from sandboxes.backends.kubernetes import manifests, streams

log = logging.getLogger(__name__)
FORBIDDEN, GONE, CONFLICT = 403, 404, 409
DEFAULT_NAMESPACE = "berth-sandboxes"
FILE_CHUNK = 48 * 1024  # bytes of a file per exec: each travels base64-encoded in the exec's URL
# A pod waiting for these will not start without someone's help: said at once, not at the timeout.
STUCK = {"ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
         "CreateContainerError", "RunContainerError"}  # fmt: skip


# A cluster enforces a new pod's NetworkPolicies some time after the pod has its address (the
# enforcer must first learn of it): until then the pod reaches what the policies deny, the
# cluster's API server first. A sandbox is handed over only once it cannot connect there. An
# image with neither bash nor curl cannot tell, and is not held back.
ISOLATED_WATCH = """
api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
reaches() {
  if command -v bash > /dev/null; then timeout 1 bash -c "exec 3<> /dev/tcp/${api%:*}/${api#*:}" 2> /dev/null
  elif command -v curl > /dev/null; then curl -sk -m 1 -o /dev/null "https://$api/"
  else return 1; fi
}
while reaches; do sleep 0.2; done
"""


@contextmanager
def api_call(what: str, learner_message: str = "The sandbox service is unavailable.", done_if: tuple = ()):
    """The cluster's errors as the contract's: `done_if` statuses are success (gone when removing)."""
    try:
        yield
    except client.ApiException as e:
        if e.status in done_if:
            return
        error = SandboxError(f"{what}: {e.status} {e.reason}: {(e.body or '')[:300]}", learner_message)
        error.status = e.status
        raise error from e
    except (OSError, HTTPError) as e:  # the API server unreachable
        raise SandboxError(f"{what}: {e}", learner_message) from e


def parse_address(url: str) -> tuple[str, str, str | None]:
    """`k8s:<kubeconfig path or in-cluster>?namespace=<name>&nested=<RuntimeClass>` ->
    (where, namespace, the runtime class for nested engines or None)."""
    parts = urlsplit(url)
    if parts.scheme != "k8s" or not parts.path:
        raise ValueError(f"a cluster's address is k8s:<kubeconfig>[?namespace=<name>][&nested=<class>], not {url!r}")
    query = parse_qs(parts.query)
    namespace = (query.get("namespace") or [DEFAULT_NAMESPACE])[0]
    return parts.path, namespace, (query.get("nested") or [None])[0]


class KubernetesBackend(SandboxBackend):
    def __init__(self, host: str, url: str):
        super().__init__(host, url)
        where, self.namespace, self.nested_runtime = parse_address(url)
        self.configuration = client.Configuration()
        if where == "in-cluster":
            config.load_incluster_config(client_configuration=self.configuration)
        else:
            config.load_kube_config(where, client_configuration=self.configuration)
        self.configuration.retries = 2
        self.core = client.CoreV1Api(client.ApiClient(self.configuration))
        self.network = client.NetworkingV1Api(self.core.api_client)
        self.metrics = client.CustomObjectsApi(self.core.api_client)
        self.namespace_made = False

    def _make_namespace(self) -> None:
        """The namespace, with the policy that cuts every sandbox off (made once per process).
        An operator who made the namespace (docs/kubernetes/berth-rbac.yaml) need not let Berth
        make namespaces: a refusal to make one is not an error; the next call says if it lacks."""
        with api_call(f"namespace {self.namespace}", done_if=(CONFLICT, FORBIDDEN)):
            self.core.create_namespace({"metadata": {"name": self.namespace, "labels": {"berth.sandboxes": "1"}}})
        with api_call("the deny-all network policy", done_if=(CONFLICT,)):
            self.network.create_namespaced_network_policy(self.namespace, manifests.deny_all())
        self.namespace_made = True

    # --- lifecycle ---------------------------------------------------------------------------
    def create(self, spec: SandboxSpec) -> str:
        if spec.profile not in self.profiles():
            raise SandboxError(
                f"profile {spec.profile} is not offered on cluster {self.host}"
                + (" (its address names no runtime class for nesting)" if spec.profile in manifests.NESTING else ""),
                "This lab needs a kind of sandbox this host does not offer.",
            )
        if not self.namespace_made:
            self._make_namespace()
        existing = self._own_pod(spec)
        if existing:
            return existing
        try:
            with api_call(f"create pod {spec.name}", "The sandbox could not be started."):
                pod = manifests.pod(spec, self.namespace, self.nested_runtime)
                self.core.create_namespaced_pod(self.namespace, pod)
        except SandboxError as e:
            if getattr(e, "status", None) == CONFLICT and (existing := self._own_pod(spec)):
                return existing  # made concurrently by a retry
            raise
        return spec.name

    def profiles(self) -> tuple[str, ...]:
        """Standard sandboxes everywhere; Docker and Kubernetes days only in a runtime class the
        operator names for them, whose pods' root is not the node's (a nested engine or kubelet
        needs SYS_ADMIN)."""
        return ("standard", *manifests.NESTING) if self.nested_runtime else ("standard",)

    def _own_pod(self, spec: SandboxSpec) -> str | None:
        """spec.name, if a pod of that name was made for this very spec; one made for anything else
        is an error, never adopted."""
        pod = self._read(spec.name)
        if pod is None:
            return None
        labels = pod.metadata.labels or {}
        if any(labels.get(key) != value for key, value in manifests.as_labels(spec.labels).items()):
            raise SandboxError(f"{spec.name} exists with other labels {labels}; refusing to adopt it")
        return spec.name

    def _read(self, pod: str):
        """The pod; None when it is gone."""
        found = None
        with api_call(f"read pod {pod}", done_if=(GONE,)):
            found = self.core.read_namespaced_pod(pod, self.namespace)
        return found

    def start(self, sandbox_id: str) -> None:
        """A pod starts once the scheduler has placed it; nothing to do but find it there."""
        if self._read(sandbox_id) is None:
            raise SandboxError(f"pod {sandbox_id} is gone", "The sandbox could not be started.")

    def wait_ready(self, sandbox_id: str, timeout: float, progress: Callable[[str], None]) -> None:
        deadline = time.monotonic() + timeout
        said = ""
        while True:
            pod = self._read(sandbox_id)
            if pod is None:
                raise SandboxError(f"pod {sandbox_id} vanished while starting")
            phase, why = self._phase(pod)
            if phase == "running":
                break
            if phase == "failed":
                raise SandboxError(f"pod {sandbox_id} cannot start: {why}", "The sandbox could not be started.")
            if phase != said:
                progress(phase)
                said = phase
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"pod {sandbox_id} not ready after {timeout:.0f} s ({why or phase})",
                    "The sandbox took too long to start. Please try again.",
                )
            time.sleep(0.1)
        remaining = max(1.0, deadline - time.monotonic())
        result = self._exec(sandbox_id, ["sh", "-c", READY_WATCH], remaining, phase_of(progress))
        if result.exit_code == 2:
            raise SandboxError(f"{sandbox_id} failed to start: {failure_of(result.output)}")
        if result.exit_code != 0:
            raise SandboxError(
                f"{sandbox_id} not ready after {timeout:.0f} s", "The sandbox took too long to start. Please try again."
            )
        remaining = max(1.0, deadline - time.monotonic())
        if self._exec(sandbox_id, ["sh", "-c", ISOLATED_WATCH], remaining).exit_code != 0:
            raise SandboxError(
                f"pod {sandbox_id} still reaches the cluster's API server after {timeout:.0f} s: the cluster "
                "does not enforce its NetworkPolicies (see docs/kubernetes.md)",
                "The sandbox could not be started.",
            )

    @staticmethod
    def _phase(pod) -> tuple[str, str]:
        """("scheduling" | "creating" | "running" | "failed", why) of a pod."""
        status = pod.status
        if status.phase in ("Failed", "Succeeded"):
            return "failed", status.reason or status.message or status.phase
        for condition in status.conditions or []:
            if condition.type == "PodScheduled" and condition.status != "True":
                return "scheduling", condition.message or condition.reason or ""
        for container in status.container_statuses or []:
            if container.state and container.state.running:
                return "running", ""
            waiting = container.state and container.state.waiting
            if waiting and waiting.reason in STUCK:
                return "failed", f"{waiting.reason}: {waiting.message or ''}".strip()
            if container.state and container.state.terminated:
                return "failed", f"exited {container.state.terminated.exit_code}"
        return ("creating" if status.phase == "Pending" and pod.spec.node_name else "scheduling"), ""

    def rename(self, sandbox_id: str, name: str) -> None:
        """A pod keeps its name for life: the name a sandbox goes by is an annotation."""
        body = {"metadata": {"annotations": {manifests.NAME_ANNOTATION: name}}}
        with api_call(f"rename {sandbox_id} to {name}", "The sandbox could not be started."):
            self.core.patch_namespaced_pod(sandbox_id, self.namespace, body)

    def poll(self, sandbox_id: str) -> bool:
        pod = self._read(sandbox_id)
        return bool(pod and pod.status.phase == "Running" and not pod.metadata.deletion_timestamp)

    def stop(self, sandbox_id: str) -> None:
        """A pod cannot be stopped and started again with its files: a sandbox on a cluster is
        not kept (the lab's end removes it; the learner is told that work is not kept here)."""
        raise SandboxError(f"pods are not kept on cluster {self.host}: {sandbox_id} is removed instead")

    def remove(self, sandbox_id: str) -> None:
        with api_call(f"remove pod {sandbox_id}", done_if=(GONE,)):
            self.core.delete_namespaced_pod(sandbox_id, self.namespace, grace_period_seconds=0)

    def list_sandboxes(self) -> list[SandboxInfo]:
        with api_call(f"list the sandboxes of {self.host}"):
            pods = self.core.list_namespaced_pod(
                self.namespace, label_selector=f"berth.prefix={settings.SANDBOX_PREFIX}"
            ).items
        return [
            SandboxInfo(
                pod.metadata.name,
                (pod.metadata.annotations or {}).get(manifests.NAME_ANNOTATION, pod.metadata.name),
                pod.metadata.labels or {},
                pod.status.phase in ("Pending", "Running") and not pod.metadata.deletion_timestamp,
                created.timestamp() if isinstance(created := pod.metadata.creation_timestamp, datetime) else 0,
            )
            for pod in pods
        ]

    def remove_orphaned_storage(self) -> int:
        return 0  # a pod's storage (its writable layer, emptyDirs) goes with the pod

    def create_network(self, name: str, labels: dict[str, str]) -> None:
        if not self.namespace_made:
            self._make_namespace()
        with api_call(f"create network {name}", "The sandbox's network could not be made.", done_if=(CONFLICT,)):
            self.core.create_namespaced_service(self.namespace, manifests.session_service(name, labels))
        with api_call(f"create network {name}", "The sandbox's network could not be made.", done_if=(CONFLICT,)):
            self.network.create_namespaced_network_policy(self.namespace, manifests.session_policy(name, labels))

    def remove_network(self, name: str) -> None:
        service = manifests.network_service(name)
        with api_call(f"remove network {name}", done_if=(GONE,)):
            self.network.delete_namespaced_network_policy(service, self.namespace)
        with api_call(f"remove network {name}", done_if=(GONE,)):
            self.core.delete_namespaced_service(service, self.namespace)

    # --- work inside -------------------------------------------------------------------------
    def _exec(self, sandbox_id: str, command: list[str], timeout: float, on_output=None) -> ExecResult:
        output = ExecOutput(on_output)
        code = streams.run(
            self.configuration, self.namespace, sandbox_id, command, timeout, lambda _, data: output.add(data)
        )
        return self._result(code, output)

    @staticmethod
    def _result(code: int | None, output: ExecOutput) -> ExecResult:
        printed = output.finish()
        if code is None:
            return ExecResult(124, printed, timed_out=True)
        return ExecResult(code, printed, timed_out=code == 124)

    def exec(self, sandbox_id, script, timeout, on_output=None) -> ExecResult:
        # `timeout` inside stops the script; the script's end mark stops us waiting on a background
        # process that keeps the output open, and the deadline in streams.run on a pod gone silent.
        output = ExecOutput(on_output)
        end = streams.ScriptEnd(output.add)
        command = end.command(script, timeout)
        code = streams.run(
            self.configuration, self.namespace, sandbox_id, command, timeout + 5, lambda _, data: end.add(data)
        )
        end.rest()
        return self._result(code, output)

    def open_tty(self, sandbox_id: str, rows: int, cols: int) -> Tty:
        command = streams.tty_command(rows, cols)
        ws = streams.open_exec(self.configuration, self.namespace, sandbox_id, command, tty=True)
        tty = streams.KubeTty(ws)
        tty.resize(rows, cols)
        return tty

    def put_file(self, sandbox_id: str, path: str, content: bytes, mode: int = 0o644) -> None:
        directory = path.rstrip("/").rpartition("/")[0] or "/"
        chunks = [content[i : i + FILE_CHUNK] for i in range(0, len(content), FILE_CHUNK)] or [b""]
        for n, chunk in enumerate(chunks):
            into = ">" if n == 0 else ">>"
            script = (
                f"mkdir -p {shlex.quote(directory)} && printf %s {base64.b64encode(chunk).decode()}"
                f" | base64 -d {into} {shlex.quote(path)} && chmod {mode:o} {shlex.quote(path)}"
            )
            result = self._exec(sandbox_id, ["sh", "-c", script], 60)
            if result.exit_code != 0:
                raise SandboxError(
                    f"put {path} into {sandbox_id}: {result.output[-300:]}", "The lab's files could not be placed."
                )

    def get_archive(self, sandbox_id: str, path: str, max_bytes: int) -> bytes:
        parent, _, name = path.rstrip("/").rpartition("/")
        script = f"tar -C {shlex.quote(parent or '/')} -cf - {shlex.quote(name or '.')} | base64 -w 0"
        encoded, errors = bytearray(), bytearray()
        limit = max_bytes * 4 // 3 + 4

        def take(channel: int, data: bytes) -> None:
            (encoded if channel == streams.STDOUT else errors).extend(data)
            if len(encoded) > limit:
                raise SandboxError(
                    f"archive of {path} passed {max_bytes} bytes",
                    f"{path} holds more than {max_bytes // 2**20} MB; remove large files and try again.",
                )

        command = ["bash", "-o", "pipefail", "-c", script]  # tar's failure, not base64's success
        code = streams.run(self.configuration, self.namespace, sandbox_id, command, 120, take)
        if code != 0 or not encoded:
            raise SandboxError(
                f"{path} is not in {sandbox_id}: {errors.decode()[:200]}", f"{path} does not exist in the sandbox."
            )
        return base64.b64decode(bytes(encoded))

    def ping(self) -> None:
        with api_call(f"ping cluster {self.host}"):
            client.VersionApi(self.core.api_client).get_code()

    def stats(self, sandbox_id: str) -> dict:
        """From the metrics API (metrics-server): CPU and memory. A pod's PIDs and throttling are
        not in it (the kubelet caps PIDs per pod for the whole node: podPidsLimit)."""
        pod = self._read(sandbox_id)
        if pod is None:
            raise SandboxError(f"pod {sandbox_id} is gone")
        with api_call(f"metrics of {sandbox_id}"):
            metrics = self.metrics.get_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", self.namespace, "pods", sandbox_id
            )
        usage = next((c["usage"] for c in metrics["containers"] if c["name"] == manifests.CONTAINER), {})
        limits = pod.spec.containers[0].resources.limits or {}
        return {
            "cpu_percent": float(parse_quantity(usage.get("cpu", "0"))) * 100,
            "memory_bytes": int(parse_quantity(usage.get("memory", "0"))),
            "memory_limit": int(parse_quantity(limits.get("memory", "0"))),
            "pids": 0,
            "pids_limit": 0,
            "cpus": float(parse_quantity(limits.get("cpu", "0"))),
            "throttled": 0.0,
        }

    def set_cpu(self, sandbox_id: str, cpus: float | None, weight: int) -> None:
        """In place (the pod's resize subresource): the quota is the CPU limit, the weight the
        CPU request (manifests.request_milli)."""
        request = manifests.request_milli(weight)
        resources: dict = {"requests": {"cpu": f"{request}m"}}
        if cpus is not None:
            resources["limits"] = {"cpu": f"{int(cpus * 1000)}m"}
            resources["requests"]["cpu"] = f"{min(request, int(cpus * 1000))}m"
        body = {"spec": {"containers": [{"name": manifests.CONTAINER, "resources": resources}]}}
        with api_call(f"resize {sandbox_id}"):
            self.core.patch_namespaced_pod_resize(sandbox_id, self.namespace, body)

    # --- the host ------------------------------------------------------------------------------
    def build_images(self, say: Callable[[str], None], only: list[str] | None = None, donors: tuple = ()) -> None:
        """A cluster's nodes get the lab images from the operator (a registry they pull from, or
        images imported into each node's runtime: docs/kubernetes.md); Berth builds none here."""
        say(f"cluster {self.host}: lab images come from its nodes' runtime (docs/kubernetes.md)")
