from django.db import migrations


def create_roles(apps, schema_editor):
    # Groups are created here; their permissions are attached by ensure_roles() after migrate
    # (permissions only exist once every app's post_migrate signal has run).
    Group = apps.get_model("auth", "Group")
    for name in ("learner", "instructor", "admin"):
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
