"""Berth with its sandboxes on a Kubernetes cluster (sandboxes/backends/kubernetes/): a lab
proves itself there as on a Docker host, and a learner works a day in Chromium through the same
views, consumers, worker and relay; only the host's address (`k8s:...`) differs. The cluster is
the real two-node one the tests start (tests/kube_host.py)."""

import io
import time

import pytest
from playwright.sync_api import expect

from tests.conftest import database_url, start_stack
from tests.kube_host import NAMESPACE

pytestmark = [pytest.mark.docker, pytest.mark.cluster]

LAB = "day39-kubernetes-architecture"  # Docker in depth, day 29: a standard sandbox (etcd's image)


@pytest.mark.django_db
def test_a_lab_proves_itself_on_the_cluster(kube_host, settings, course):
    """Every check fails before, passes after its solution and fails after its sabotage; the
    lesson's transcripts print what the lesson shows: all of it in pods."""
    from django.core.management import call_command

    from sandboxes.backends import get_backend

    settings.DOCKER_HOSTS = {"local": kube_host.address}
    get_backend.cache_clear()
    out = io.StringIO()
    try:
        call_command("labtest", LAB, stdout=out)
    finally:
        get_backend.cache_clear()
    assert "1/1 labs passed" in out.getvalue(), out.getvalue()
    assert "lesson transcript      ok" in out.getvalue()


@pytest.mark.django_db
def test_the_warm_pool_keeps_ready_pods_that_a_start_claims(kube_host, settings):
    from types import SimpleNamespace

    from sandboxes import pool
    from sandboxes.backends import get_backend

    settings.DOCKER_HOSTS = {"local": kube_host.address}
    get_backend.cache_clear()
    try:
        assert pool.warm_up("local", "standard", "berth/base:latest", 1)
        name = f"{settings.SANDBOX_PREFIX}-claimed-node1"
        ids, network = pool.claim("local", {"node1": SimpleNamespace(name=name)}, "berth/base:latest", "standard")
        backend = get_backend("local")
        assert (
            network == "" and {info.container_id: info.name for info in backend.list_sandboxes()}[ids["node1"]] == name
        )
        assert backend.exec(ids["node1"], "echo warm-$((2*21))", timeout=10).output == "warm-42\n"
        assert pool.claim("local", {"node1": SimpleNamespace(name=name)}, "berth/base:latest", "standard") is None
        backend.remove(ids["node1"])
    finally:
        get_backend.cache_clear()


@pytest.fixture
def cluster_stack(kube_host, django_db_blocker):
    """The web process, a worker and the relay, as scripts/up starts them, for a host that is
    the cluster."""
    with django_db_blocker.unblock():
        db_url = database_url()
    st = start_stack(db_url, {"BERTH_DOCKER_HOSTS": f"local={kube_host.address}"}, prefix="k8s")
    yield st
    st.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.stack
@pytest.mark.e2e
def test_a_learner_works_a_day_on_the_cluster_in_chromium(kube_host, cluster_stack, chromium, learner, course):
    from labs.models import Step
    from sandboxes.models import Sandbox
    from tests.test_e2e import log_in, type_in_terminal

    page = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, cluster_stack, learner)
    page.goto(f"{cluster_stack.http}/course/docker-in-depth/day/29/")
    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=120000)

    # The terminal is a shell in a pod of the cluster: its name is the sandbox's.
    sandbox = Sandbox.objects.get(session__user=learner, session__lab__slug=LAB)
    pods = kube_host.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name")
    assert f"pod/{sandbox.container_id}" in pods.split()
    type_in_terminal(page, "hostname; echo from-$((6*7))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("from-42", timeout=30000)
    expect(page.locator(".xterm-rows")).to_contain_text("node1")

    page.click("#step-1 .check-button")  # before the work: it fails and says why
    expect(page.locator("#step-1 .check-result")).to_have_attribute("data-state", "failed", timeout=30000)
    for line in Step.objects.get(lab__slug=LAB, position=1).solution_script.strip().splitlines():
        type_in_terminal(page, line + "\n")
    type_in_terminal(page, "echo done-$((5*5))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("done-25", timeout=60000)
    page.click("#step-1 .check-button")
    expect(page.locator("#step-1 .check-result")).to_have_attribute("data-state", "passed", timeout=60000)

    # Ending the lab removes the pod (a cluster keeps no stopped sandboxes).
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".lab-head button.danger", has_text="End lab").click()
    expect(page.locator("#start-lab")).to_be_visible(timeout=60000)
    page.context.close()
    assert not errors, f"JavaScript errors: {errors}"
    sandbox.refresh_from_db()
    for _ in range(100):
        pods = kube_host.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name")
        if f"pod/{sandbox.container_id}" not in pods.split():
            break
        time.sleep(0.3)
    assert f"pod/{sandbox.container_id}" not in pods.split()
