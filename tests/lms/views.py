"""The platform's pages and LTI endpoints. Users are a fixed roster (USERS); "logged in" is the
`as` parameter, which is all a test platform needs."""

import json
import os
from html import escape
from pathlib import Path
from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request

STATE = Path(os.environ.get("LMS_STATE", "/tmp/lms"))
LMS, BERTH = os.environ.get("LMS_URL", ""), os.environ.get("BERTH_URL", "")
CLIENT_ID, DEPLOYMENT = "berth-tool", "deployment-1"
USERS = {
    "lee": {"name": "Lee Learner", "email": "lee@lms.test", "role": "Learner"},
    "ines": {"name": "Ines Instructor", "email": "ines@lms.test", "role": "Instructor"},
}
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


def links() -> list[dict]:
    path = STATE / "links.json"
    return json.loads(path.read_text()) if path.exists() else []


class Platform(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs):
        self._registration = self.get_registration_by_params()

    def get_registration_by_params(self, **kwargs):
        return (
            Registration()
            .set_iss(LMS)
            .set_client_id(CLIENT_ID)
            .set_deployment_id(DEPLOYMENT)
            .set_oidc_login_url(f"{BERTH}/lti/login/")
            .set_launch_url(f"{BERTH}/lti/launch/")
            .set_deeplink_launch_url(f"{BERTH}/lti/launch/")
            .set_tool_key_set_url(f"{BERTH}/lti/jwks/")
            .set_platform_public_key((STATE / "public.pem").read_text())
            .set_platform_private_key((STATE / "private.pem").read_text())
        )


class DjangoRequest(Request):
    def build_metadata(self, request):
        return {
            "method": request.method,
            "form_data": request.POST.dict(),
            "get_data": request.GET.dict(),
            "headers": request.headers,
            "content_type": request.content_type,
            "path": request.path,
            "json": None,
        }


class Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs):
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url):
        return HttpResponseRedirect(url)


class Launch(LTIAdvantageMessageLaunchAbstract):
    def prepare_launch(self, preflight_response):
        user = USERS[preflight_response["login_hint"]]
        role = f"http://purl.imsglobal.org/vocab/lis/v2/membership#{user['role']}"
        self.set_user_data(preflight_response["login_hint"], [role], user["name"], user["email"])
        self.set_launch_context_claim("course-101", context_title="Platform engineering 101")
        hint = preflight_response["lti_message_hint"]
        if hint == "deeplink":
            self.set_resource_link_claim("deep-link")
            self.set_dl(f"{LMS}/deep-link-return/", title="Add Berth content")
        else:
            n = int(hint)
            link = links()[n]
            self.set_resource_link_claim(f"link-{n}", title=link["title"])
            self.set_custom_parameters_claim(link.get("custom", {}))
            self.set_ags(f"{LMS}/lineitems/", f"{LMS}/lineitems/{n}", allow_creating_lineitems=False)

    def render_launch_form(self, launch_data, **kwargs):
        fields = "".join(
            f'<input type="hidden" name="{k}" value="{escape(launch_data[k])}">' for k in ("id_token", "state")
        )
        return HttpResponse(
            f'<!doctype html><html><body><form method="post" action="{escape(launch_data["launch_url"])}" id="f">'
            f'{fields}</form><script>document.getElementById("f").submit()</script></body></html>'
        )


def window(link: dict) -> str:
    """A link the tool asked to have opened in a window of its own opens in one, as platforms do."""
    target = (link.get("window") or {}).get("targetName")
    return f' target="{escape(target)}"' if target else ""


def course(request):
    """The course page: its Berth links, each opened as the user in `as`, and "add content"."""
    who = request.GET.get("as", "lee")
    rows = "".join(
        f'<li><a class="launch" href="/start/?{urlencode({"as": who, "link": n})}"{window(link)}>'
        f"{escape(link['title'])}</a></li>"
        for n, link in enumerate(links())
    )
    add = f'<a id="add-content" href="/start/?{urlencode({"as": who, "deeplink": 1})}">Add Berth content</a>'
    return HttpResponse(
        f"<!doctype html><html><head><title>Platform engineering 101</title></head><body>"
        f"<h1>Platform engineering 101</h1><p>Signed in as {escape(USERS[who]['name'])}</p>"
        f'<ul id="links">{rows}</ul>{add if USERS[who]["role"] == "Instructor" else ""}</body></html>'
    )


def start(request):
    """Third-party initiated login: the platform sends the user to Berth's login endpoint."""
    login = Login(DjangoRequest(request), Platform())
    login.set_lti_message_hint(hint="deeplink" if request.GET.get("deeplink") else request.GET["link"])
    return login.initiate_login(request.GET["as"])


def authorize(request):
    """Berth's authentication request comes back here: the signed launch, posted to Berth."""
    return Launch(DjangoRequest(request), Platform()).lti_launch()


def jwks(request):
    return JsonResponse(Platform().get_jwks())


@csrf_exempt
def token(request):
    try:
        return JsonResponse(Platform().get_access_token(request.POST.dict()))
    except Exception as e:  # the library raises its own errors for a bad assertion or grant
        return JsonResponse({"error": "invalid_client", "error_description": str(e)}, status=400)


@csrf_exempt
def scores(request, n):
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    try:
        allowed = bool(bearer) and Platform().validate_token(bearer, allowed_scopes=[SCORE_SCOPE])
    except Exception:  # a token not signed by this platform, or expired
        allowed = False
    if not allowed:
        return JsonResponse({"error": "unauthorized"}, status=401)
    if request.content_type != "application/vnd.ims.lis.v1.score+json":
        return HttpResponseBadRequest("a score, please")
    with open(STATE / "scores.jsonl", "a") as out:
        out.write(json.dumps({"lineitem": n, **json.loads(request.body)}) + "\n")
    return JsonResponse({})


@csrf_exempt
def deep_link_return(request):
    """Berth's deep-linking response: each item becomes a link of the course, with a gradebook column."""
    items = Platform().validate_deeplinking_resp(request.POST.dict())
    saved = links() + [
        {"title": item.get("title", ""), "custom": item.get("custom", {}), "window": item.get("window")}
        for item in items
    ]
    (STATE / "links.json").write_text(json.dumps(saved))
    return HttpResponseRedirect("/course/?as=ines")
