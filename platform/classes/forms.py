from django import forms
from django.utils import timezone

from classes.models import Classroom
from course.models import Course


class ClassroomForm(forms.ModelForm):
    class Meta:
        model = Classroom
        fields = ["name", "course", "starts_on"]
        widgets = {"starts_on": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["course"].queryset = Course.objects.all()
        self.fields["course"].empty_label = None
        self.fields["course"].initial = Course.default()
        self.fields["starts_on"].initial = timezone.localdate()


class DueDateForm(forms.Form):
    day = forms.IntegerField(min_value=1)
    due_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))  # empty: no due date
