from django.contrib.auth.models import User
from django.db.models.signals import m2m_changed, post_migrate
from django.dispatch import receiver


@receiver(post_migrate)
def attach_role_permissions(sender, app_config=None, **kwargs):
    if app_config is None or app_config.label != "sandboxes":
        return  # run once, after the last app that defines a role permission
    from accounts.roles import ensure_roles

    ensure_roles()


@receiver(m2m_changed, sender=User.groups.through)
def role_changed(sender, instance, reverse, pk_set, **kwargs):
    """A new role shows in this process's top bar at once (in the others within NAV_SECONDS)."""
    from accounts.roles import forget_nav_links

    for pk in (pk_set or ()) if reverse else (instance.pk,):
        forget_nav_links(pk)
