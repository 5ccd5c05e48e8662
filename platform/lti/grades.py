"""A day done goes back to the platform that launched it, as a score of 1 out of 1 on the line
item of its launch (LTI Assignment and Grade Services)."""

from django.utils import timezone
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.contrib.django import DjangoDbToolConf
from pylti1p3.grade import Grade
from pylti1p3.service_connector import ServiceConnector

from lti.models import GradeLink


def send_grade(link: GradeLink) -> None:
    """Posts the score; raises on a refusal (the task retries)."""
    registration = DjangoDbToolConf().find_registration_by_params(link.issuer, link.client_id)
    service = AssignmentsGradesService(ServiceConnector(registration), link.service)
    grade = (
        Grade()
        .set_score_given(1)
        .set_score_maximum(1)
        .set_timestamp(timezone.now().isoformat())
        .set_activity_progress("Completed")
        .set_grading_progress("FullyGraded")
        .set_user_id(link.subject)
    )
    service.put_grade(grade)
    GradeLink.objects.filter(pk=link.pk).update(sent_at=timezone.now(), sent_score=1.0, error="")
