"""Single sign-on through an OpenID Connect identity provider (django-allauth's social accounts).

The provider is named by BERTH_OIDC_* (berth/settings.py). A user signing in for the first
time gets an account named by their `preferred_username`; at every sign-in their role follows
the provider's claim BERTH_OIDC_ROLE_CLAIM (a list of group names, "groups" by default) through
BERTH_OIDC_ROLES ("staff=instructor,ops=admin"): the highest role any of their groups maps to,
a learner when none does. The provider is the authority for its users' roles."""

from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from accounts.roles import ADMIN, INSTRUCTOR, LEARNER, forget_nav_links

RANK = [LEARNER, INSTRUCTOR, ADMIN]


def claims_of(sociallogin) -> dict:
    """The user's claims as the provider gave them: its userinfo, else the ID token's."""
    data = sociallogin.account.extra_data or {}
    return data.get("userinfo") or data.get("id_token") or data


def role_from_claims(claims: dict) -> str:
    groups = claims.get(settings.OIDC_ROLE_CLAIM) or []
    if isinstance(groups, str):  # some providers give one group as a string, or a space-separated list
        groups = groups.split()
    roles = [settings.OIDC_ROLES[g] for g in groups if g in settings.OIDC_ROLES and settings.OIDC_ROLES[g] in RANK]
    return max(roles, key=RANK.index, default=LEARNER)


@transaction.atomic
def apply_role(user, role: str) -> None:
    user.groups.remove(*Group.objects.filter(name__in=RANK).exclude(name=role))
    user.groups.add(Group.objects.get(name=role))
    forget_nav_links(user.pk)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def save_user(self, request, sociallogin, form=None):
        """A first sign-in: the new account, with its role."""
        user = super().save_user(request, sociallogin, form)
        apply_role(user, role_from_claims(claims_of(sociallogin)))
        return user

    def pre_social_login(self, request, sociallogin):
        """A returning user: the role as the provider says now (groups change)."""
        if sociallogin.is_existing:
            apply_role(sociallogin.user, role_from_claims(claims_of(sociallogin)))
