"""The domain's enums keep the words stored in the database and sent on the wire; a stale finding is a conflict."""

import json

from tracker.checklists.model import SEVERITIES
from tracker.domain.errors import DomainError, StaleFinding
from tracker.domain.model import ExtensionStatus, Mode, Role, Severity
from tracker.domain.policy import REVIEW_LADDER, PolicySettings
from tracker.domain.supervision import Stage, whose_step
from tracker.events.schemas import FindingReported


def test_it_keeps_the_stored_words() -> None:
    assert [s.value for s in Severity] == ["general", "major"] == list(SEVERITIES)
    assert [s.value for s in ExtensionStatus] == ["pending", "accepted", "refused"]
    assert Mode.SELF == "self" and f"{Severity.MAJOR}" == "major"


def test_it_sends_a_severity_as_its_word() -> None:
    event = FindingReported(finding_id=1, inspection_id=2, facility_id=3, item_code="X", severity="major")
    assert event.severity is Severity.MAJOR
    assert json.loads(event.model_dump_json())["severity"] == "major"
    assert event.published_subject() == "tracker.finding.reported.major"


def test_it_names_roles_on_the_ladders() -> None:
    assert REVIEW_LADDER == (Role.SECTION_CHIEF, Role.BUREAU_LEAD)
    assert whose_step(Stage.ACCEPTANCE) is Role.SECTION_CHIEF and whose_step(Stage.CLOSED) is None
    assert (
        PolicySettings().deadline_workdays("major")
        == PolicySettings().deadline_workdays(Severity.MAJOR)
        == 30
    )


def test_it_answers_a_stale_finding_as_a_conflict() -> None:
    assert issubclass(StaleFinding, DomainError) and StaleFinding.status_code == 409
