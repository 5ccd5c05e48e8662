"""Berth itself deployed on the two-node test cluster (tests/kube_host.py) as docs/kubernetes.md
says: its images built with no registry, loaded into the nodes, the docs' deploy block run as
written with docs/kubernetes/berth-platform.yaml; then a learner works Day 1 in Chromium through
the web tier, worker and relay that run in the cluster, on a sandbox pod of that cluster."""

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.kube_host import NODES, load_images

pytestmark = [pytest.mark.docker, pytest.mark.cluster, pytest.mark.e2e]

DOCS = Path(__file__).resolve().parent.parent / "docs"
NODE_PORT = 30800  # berth-platform.yaml's web Service


def deploy_block() -> str:
    """The docs' block that deploys Berth, as a reader would copy it."""
    text = (DOCS / "kubernetes.md").read_text()
    blocks = re.findall(r"```bash\n(# deploy Berth.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/kubernetes.md has one block that starts '# deploy Berth'"
    return blocks[0]


@pytest.fixture(scope="module")
def deployed(kube_host, django_db_blocker):
    """Berth on the cluster; removed again after the module's tests."""
    from django.core.management import call_command

    from sandboxes.backends.docker.images import PLATFORM_IMAGES

    node1 = kube_host.ids["node1"]

    def docker(*args: str, **options):
        return subprocess.run(["docker", *args], env=kube_host.docker_env, capture_output=True, text=True, **options)

    call_command("build_platform_images")
    images = [*PLATFORM_IMAGES.values(), "berth/redis:7"]
    with ThreadPoolExecutor() as both:
        list(both.map(lambda node: load_images(kube_host.ids[node], kube_host.docker_env, images), NODES))
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
    yield f"http://{kube_host.api_host}:{NODE_PORT}"
    kube_host.kubectl("delete", "--wait=false", "-f", "/root/berth/docs/kubernetes/berth-platform.yaml", check=False)


@pytest.mark.django_db
def test_a_learner_works_day_1_on_berth_deployed_in_the_cluster(deployed, kube_host, chromium, course):
    """Every process the learner's path touches runs in the cluster; the test's own database holds
    the course only for Day 1's solution, which is the same file the deployed Berth loaded."""
    from tests.test_kubernetes_backend import work_day_1

    page = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{deployed}/accounts/login/")
    page.fill("#id_username", "learner")
    page.fill("#id_password", "learner-demo-pass")
    page.click("button[type=submit]")
    work_day_1(page, deployed, kube_host)  # the web tier, Redis, worker and relay here are the cluster's only
