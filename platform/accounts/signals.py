from django.db.models.signals import post_migrate
from django.dispatch import receiver


@receiver(post_migrate)
def attach_role_permissions(sender, app_config=None, **kwargs):
    if app_config is None or app_config.label != "sandboxes":
        return  # run once, after the last app that defines a role permission
    from accounts.roles import ensure_roles

    ensure_roles()
