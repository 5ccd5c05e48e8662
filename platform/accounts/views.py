from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import Group
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts import throttle
from accounts.forms import SignupForm
from accounts.roles import LEARNER


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            user.groups.add(Group.objects.get(name=LEARNER))
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's login, refusing attempts for a while after repeated failures (accounts/throttle.py)."""

    template_name = "accounts/login.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if settings.OIDC_SERVER_URL:  # single sign-on offered beside the local login
            context["sso_name"] = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"][0]["name"]
            context["sso_url"] = reverse("openid_connect_login", kwargs={"provider_id": settings.OIDC_PROVIDER_ID})
        return context

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        if throttle.locked_out(request, username):
            form = self.get_form()
            form.add_error(None, "Too many failed attempts. Please wait a few minutes before trying again.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        throttle.record_failure(self.request, self.request.POST.get("username", ""))
        return super().form_invalid(form)

    def form_valid(self, form):
        throttle.clear(self.request, form.get_user().get_username())
        return super().form_valid(form)
