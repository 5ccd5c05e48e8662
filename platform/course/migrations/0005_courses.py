"""Several courses: a Course table, and every module and lesson in one. What was the one course
becomes the default course (its days are renumbered by the next load_course, lessons kept by slug)."""

import django.db.models.deletion
from django.db import migrations, models

DEFAULT = {"slug": "containers-to-kubernetes", "title": "From containers to Kubernetes in 40 days", "position": 1}


def into_the_default_course(apps, schema_editor):
    Course, Module, Lesson = (apps.get_model("course", name) for name in ("Course", "Module", "Lesson"))
    if Module.objects.exists() or Lesson.objects.exists():
        course, _ = Course.objects.get_or_create(slug=DEFAULT["slug"], defaults=DEFAULT)
        Module.objects.update(course=course)
        Lesson.objects.update(course=course)


class Migration(migrations.Migration):
    dependencies = [("course", "0004_lesson_source_hash")]

    operations = [
        migrations.CreateModel(
            name="Course",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(max_length=100, unique=True)),
                ("title", models.CharField(max_length=200)),
                ("summary", models.TextField(blank=True)),
                ("position", models.PositiveSmallIntegerField(default=1)),
                ("source_path", models.CharField(blank=True, max_length=300)),
            ],
            options={"ordering": ["position", "slug"]},
        ),
        migrations.AddField(
            model_name="module",
            name="course",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="modules", to="course.course"
            ),
        ),
        migrations.AddField(
            model_name="lesson",
            name="course",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="lessons", to="course.course"
            ),
        ),
        migrations.RunPython(into_the_default_course, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="module",
            name="course",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="modules", to="course.course"
            ),
        ),
        migrations.AlterField(
            model_name="lesson",
            name="course",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="lessons", to="course.course"
            ),
        ),
        migrations.AlterField(model_name="module", name="number", field=models.PositiveSmallIntegerField()),
        migrations.AlterField(model_name="lesson", name="day", field=models.PositiveSmallIntegerField()),
        migrations.AlterModelOptions(name="module", options={"ordering": ["course__position", "course__slug", "number"]}),
        migrations.AlterModelOptions(
            name="lesson",
            options={
                "ordering": ["course__position", "course__slug", "day"],
                "permissions": [("author_course", "Can write and publish lessons")],
            },
        ),
        migrations.AddConstraint(
            model_name="module",
            constraint=models.UniqueConstraint(fields=("course", "number"), name="one_module_number_per_course"),
        ),
        migrations.AddConstraint(
            model_name="lesson",
            constraint=models.UniqueConstraint(fields=("course", "day"), name="one_lesson_per_course_day"),
        ),
    ]
