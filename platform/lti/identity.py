"""Who a platform's user is in Berth: the account their issuer and subject landed in first, or a
new one named after them (their e-mail's local part, or their given name), a learner's, or an
instructor's when the platform says they teach. Later launches keep the account's roles: a role
given in Berth is not taken back by a platform."""

import re

from django.contrib.auth.models import Group, User
from django.db import transaction

from accounts.roles import INSTRUCTOR, LEARNER
from lti.models import LtiIdentity

ROLES_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/roles"
TEACHING_ROLES = ("#Instructor", "#Administrator", "#ContentDeveloper")


def account_for(launch: dict) -> User:
    issuer, subject = launch["iss"], launch["sub"]
    identity = LtiIdentity.objects.filter(issuer=issuer, subject=subject).select_related("user").first()
    if identity:
        return identity.user
    with transaction.atomic():
        user = User.objects.create_user(free_username(launch), email=launch.get("email", ""))
        user.first_name, user.last_name = launch.get("given_name", "")[:150], launch.get("family_name", "")[:150]
        user.set_unusable_password()  # they always come through their platform
        user.save()
        teaches = any(role.endswith(TEACHING_ROLES) for role in launch.get(ROLES_CLAIM, []))
        user.groups.add(Group.objects.get(name=INSTRUCTOR if teaches else LEARNER))
        LtiIdentity.objects.create(issuer=issuer, subject=subject, user=user)
    return user


def free_username(launch: dict) -> str:
    wanted = (launch.get("email") or "").split("@")[0] or launch.get("given_name") or "learner"
    base = re.sub(r"[^\w.+-]", "", wanted)[:140] or "learner"
    name, n = base, 1
    while User.objects.filter(username=name).exists():
        n += 1
        name = f"{base}{n}"
    return name
