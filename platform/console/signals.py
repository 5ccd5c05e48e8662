"""Role changes (group membership) land in the audit log, wherever they are made."""

from django.contrib.auth.models import Group, User
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from console.models import audit


@receiver(m2m_changed, sender=User.groups.through)
def audit_role_change(sender, instance, action, pk_set, reverse, **kwargs):
    if action not in ("post_add", "post_remove") or reverse or not pk_set:
        return
    roles = ", ".join(sorted(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True)))
    verb = "granted" if action == "post_add" else "removed"
    audit(None, "role.change", f"user {instance.username}", f"{verb}: {roles}")
