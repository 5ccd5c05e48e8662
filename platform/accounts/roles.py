"""Roles are groups with permissions. A learner has no special permission; instructors author the
course; admins manage sandboxes. The permissions are defined on the models they protect."""

from django.contrib.auth.models import Group, Permission

LEARNER = "learner"
INSTRUCTOR = "instructor"
ADMIN = "admin"

ROLE_PERMISSIONS = {
    LEARNER: [],
    INSTRUCTOR: [
        "course.author_course",
        "labs.author_labs",
    ],
    ADMIN: [
        "course.author_course",
        "labs.author_labs",
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
