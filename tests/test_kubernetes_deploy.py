"""Berth itself deployed on the two-node test cluster (tests/kube_host.py) as docs/kubernetes.md
says: its images built with no registry, loaded into the nodes, the docs' deploy block run as
written with docs/kubernetes/berth-platform.yaml; then a learner works Day 1 in Chromium through
the web tier, worker and relay that run in the cluster, on a sandbox pod of that cluster."""

import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.kube_host import NAMESPACE
from tests.test_kubernetes_backend import DAY1

pytestmark = [pytest.mark.docker, pytest.mark.cluster, pytest.mark.e2e]

DOCS = Path(__file__).resolve().parent.parent / "docs"
WEB_PORT = 8000  # berth-platform.yaml's web Service, forwarded on node1's address


def deploy_block() -> str:
    """The docs' block that deploys Berth, as a reader would copy it."""
    text = (DOCS / "kubernetes.md").read_text()
    blocks = re.findall(r"```bash\n(# deploy Berth.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/kubernetes.md has one block that starts '# deploy Berth'"
    return blocks[0]


@pytest.fixture(scope="module")
def deployed(kube_host):
    """Berth on the cluster; removed again after the module's tests, with every sandbox it made
    (its prefix is the default, `berth`), so the tests after it find the nodes as they were."""
    from django.core.management import call_command

    from sandboxes.backends.docker.images import PLATFORM_IMAGES

    node1 = kube_host.ids["node1"]

    def docker(*args: str, **options):
        return subprocess.run(["docker", *args], env=kube_host.docker_env, capture_output=True, text=True, **options)

    call_command("build_platform_images")
    images = [*PLATFORM_IMAGES.values(), "berth/redis:7"]
    kube_host.load_images(images)
    kube_host.kubectl("apply", "-f", "/etc/berth/addons/local-path.yaml")  # the default storage class
    docker("exec", node1, "mkdir", "-p", "/root/berth")
    docker("cp", str(DOCS), f"{node1}:/root/berth/docs", check=True)
    run = docker("exec", "-e", f"BERTH_HOST={kube_host.api_host}", "-w", "/root/berth", node1,
                 "bash", "-euo", "pipefail", "-c", deploy_block())  # fmt: skip
    if run.returncode != 0:
        logs = kube_host.kubectl("-n", "berth", "logs", "--tail=40", "--all-containers", "-l", "app", check=False)
        pods = kube_host.kubectl("-n", "berth", "get", "pods", "-o", "wide", check=False)
        pytest.fail(f"the docs' deploy block failed:\n{run.stdout}\n{run.stderr}\n{pods}\n{logs}")
    kube_host.kubectl("-n", "berth", "exec", "deploy/web", "--", "python", "manage.py", "create_demo_users")
    # As the docs say to try it: kubectl port-forward, here on node1's address this machine reaches.
    forward = ["kubectl", "-n", "berth", "port-forward", "--address", "0.0.0.0", "svc/web", f"{WEB_PORT}:{WEB_PORT}"]
    docker("exec", "-d", node1, *forward, check=True)
    url = f"http://{kube_host.api_host}:{WEB_PORT}"
    for _ in range(100):
        try:
            if urllib.request.urlopen(f"{url}/accounts/login/", timeout=5).status == 200:
                break
        except OSError:
            time.sleep(0.2)
    yield url
    docker("exec", node1, "pkill", "-f", "port-forward")
    kube_host.kubectl("delete", "--timeout=5m", "-f", "/root/berth/docs/kubernetes/berth-platform.yaml", check=False)
    kube_host.kubectl(
        "-n", NAMESPACE, "delete", "pods,services,networkpolicies", "-l", "berth.prefix=berth", check=False
    )


def test_a_learner_works_day_1_on_berth_deployed_in_the_cluster(deployed, kube_host, chromium):
    """Every process the learner's path touches runs in the cluster, on its own database."""
    from tests.test_kubernetes_backend import work_day_1

    # The web tier, Redis, the worker and the relay in the cluster are the only ones this path meets.
    page = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{deployed}/accounts/login/")
    page.fill("#id_username", "learner")
    page.fill("#id_password", "learner-demo-pass")
    page.click("button[type=submit]")
    try:
        work_day_1(page, deployed, kube_host, lambda: sandbox_of("learner", kube_host))
    except AssertionError as e:  # what the cluster's Berth said
        logs = [f"--- {name}\n" + kube_host.kubectl("-n", "berth", "logs", "--tail=30", f"deploy/{name}", check=False)
                for name in ("worker", "relay", "web")]  # fmt: skip
        raise AssertionError("\n".join([str(e), *logs])) from e


def sandbox_of(username: str, kube_host) -> str:
    """The pod of the user's Day 1 sandbox, as the deployed Berth's database has it."""
    query = (
        "from sandboxes.models import Sandbox; print(Sandbox.objects.filter(session__user__username="
        f"{username!r}, session__lab__slug={DAY1!r}).latest('pk').container_id)"
    )
    said = kube_host.kubectl(
        "-n", "berth", "exec", "deploy/worker", "--", "python", "/app/manage.py", "shell", "-c", query
    )
    return said.strip().splitlines()[-1]  # after the shell's own line on what it imported
