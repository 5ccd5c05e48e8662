"""Roles are groups with permissions. A learner has no special permission; instructors author the
course and teach classes; admins manage sandboxes. The permissions are defined on the models they protect."""

import time

from django.contrib.auth.models import Group, Permission

LEARNER = "learner"
INSTRUCTOR = "instructor"
ADMIN = "admin"

ROLE_PERMISSIONS = {
    LEARNER: [],
    INSTRUCTOR: [
        "course.author_course",
        "labs.author_labs",
        "classes.teach_classes",
    ],
    ADMIN: [
        "course.author_course",
        "labs.author_labs",
        "classes.teach_classes",
        "sandboxes.manage_sandboxes",
    ],
}


def ensure_roles() -> dict[str, Group]:
    """Create the role groups and give them their permissions (idempotent)."""
    groups = {}
    for role, perm_names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for dotted in perm_names:
            app_label, codename = dotted.split(".")
            perms.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(perms)
        groups[role] = group
    return groups


def role_of(user) -> str:
    names = set(user.groups.values_list("name", flat=True))
    for role in (ADMIN, INSTRUCTOR):
        if role in names or (role == ADMIN and user.is_superuser):
            return role
    return LEARNER


# The top bar's Studio and Console links, on every page: asking the permissions costs two queries
# and a sixth of a lesson page's time, so each web process keeps the answer per user for a while
# (the views behind the links check the permission themselves, every time).
NAV_SECONDS = 30.0
_nav: dict[int, tuple[float, dict]] = {}


def nav_links(request) -> dict:
    """Context processor: `nav_studio` and `nav_console` for the signed-in user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    now = time.monotonic()
    kept = _nav.get(user.pk)
    if kept is None or now - kept[0] > NAV_SECONDS:
        if len(_nav) > 10_000:
            _nav.clear()
        links = {
            "nav_studio": user.has_perm("course.author_course"),
            "nav_console": user.has_perm("sandboxes.manage_sandboxes"),
        }
        kept = _nav[user.pk] = (now, links)
    return kept[1]


def forget_nav_links(user_pk: int) -> None:
    _nav.pop(user_pk, None)
