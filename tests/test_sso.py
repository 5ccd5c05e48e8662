"""Single sign-on, end to end in Chromium, against a real OpenID Connect identity provider
(django-oidc-provider, run as a server of its own: tests/idp/): a learner and an instructor
sign in through it, get accounts named by the provider and roles from their groups."""

import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from accounts.roles import role_of
from accounts.sso import role_from_claims
from tests.conftest import ROOT, free_port, peer_env, peer_server

CLIENT_ID, CLIENT_SECRET = "berth-test", "berth-test-secret-0123456789"


@pytest.fixture
def identity_provider(tmp_path, live_server, settings):
    """The provider, seeded with Berth as its client and two users, and Berth configured for it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = peer_env("tests.idp.settings", IDP_DB=str(tmp_path / "idp.sqlite3"), IDP_URL=url)
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True}
    subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput"], **run)
    callback = f"{live_server.url}/accounts/sso/oidc/sso/login/callback/"
    users = ["lee:lee-idp-pass-1:", "terry:terry-idp-pass-1:staff,platform-teachers"]
    subprocess.run([sys.executable, "-m", "tests.idp.seed", callback, CLIENT_ID, CLIENT_SECRET, *users], **run)
    settings.OIDC_SERVER_URL = f"{url}/openid"
    settings.OIDC_ROLES = {"platform-teachers": "instructor"}
    app = {"provider_id": "sso", "name": "Test IdP", "client_id": CLIENT_ID, "secret": CLIENT_SECRET}
    app["settings"] = {"server_url": settings.OIDC_SERVER_URL, "fetch_userinfo": True}
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {**settings.SOCIALACCOUNT_PROVIDERS["openid_connect"], "APPS": [app]}
    }

    def idp_python(code):  # run code in the provider's own database
        script = f"import django; django.setup()\nfrom django.contrib.auth.models import User, Group\n{code}"
        subprocess.run([sys.executable, "-c", script], **run)

    with peer_server(env, port, "identity-provider", f"{url}/openid/.well-known/openid-configuration"):
        yield idp_python


def sign_in_through_the_provider(browser, live_server, username, password):
    page = browser.new_context().new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("#sso-login")
    expect(page.locator("h1")).to_have_text("Test identity provider: sign in")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    expect(page.locator(".topbar .who")).to_have_text(username)  # back on Berth, signed in
    return page


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_learners_and_instructors_sign_in_through_the_identity_provider(
    chromium, identity_provider, live_server, roles
):
    page = sign_in_through_the_provider(chromium, live_server, "lee", "lee-idp-pass-1")
    lee = User.objects.get(username="lee")
    assert role_of(lee) == "learner" and lee.email == "lee@idp.test" and not lee.has_usable_password()
    expect(page.locator("nav a", has_text="Studio")).to_have_count(0)
    page.context.close()

    page = sign_in_through_the_provider(chromium, live_server, "terry", "terry-idp-pass-1")
    assert role_of(User.objects.get(username="terry")) == "instructor"  # from the group platform-teachers
    expect(page.locator("nav a", has_text="Studio")).to_be_visible()
    page.locator("nav form button", has_text="Log out").click()
    expect(page.locator(".topbar .who")).to_have_count(0)
    page.context.close()

    # Out of the teachers' group at the provider: signing in again finds the same account (by the
    # provider's subject), now a learner's.
    identity_provider("User.objects.get(username='terry').groups.remove(Group.objects.get(name='platform-teachers'))")
    page = sign_in_through_the_provider(chromium, live_server, "terry", "terry-idp-pass-1")
    assert User.objects.filter(username__startswith="terry").count() == 1
    assert role_of(User.objects.get(username="terry")) == "learner"
    expect(page.locator("nav a", has_text="Studio")).to_have_count(0)
    page.context.close()


def test_roles_come_from_the_highest_mapped_group(settings):
    settings.OIDC_ROLE_CLAIM = "groups"
    settings.OIDC_ROLES = {"teachers": "instructor", "ops": "admin"}
    assert role_from_claims({"groups": ["staff"]}) == "learner"
    assert role_from_claims({"groups": ["teachers", "ops"]}) == "admin"
    assert role_from_claims({"groups": "teachers staff"}) == "instructor"  # one string, space-separated
    assert role_from_claims({}) == "learner"
