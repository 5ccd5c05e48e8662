"""A lesson's versions are keyed by its slug, not its day: days are numbered per course now, and
a lesson that moves keeps its history."""

from django.db import migrations


def by_slug(apps, schema_editor):
    ContentVersion, Lesson = apps.get_model("studio", "ContentVersion"), apps.get_model("course", "Lesson")
    slugs = {str(day): slug for day, slug in Lesson.objects.values_list("day", "slug")}
    for version in ContentVersion.objects.filter(kind="lesson"):
        if version.key in slugs:
            version.key = slugs[version.key]
            version.save(update_fields=["key"])


class Migration(migrations.Migration):
    dependencies = [("studio", "0001_initial"), ("course", "0005_courses")]

    operations = [migrations.RunPython(by_slug, migrations.RunPython.noop)]
