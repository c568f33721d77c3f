"""The safety plan: the seeker's own, private, shared with their supporter only while they say."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from peerchat.errors import Forbidden, NotFound, PeerchatError
from peerchat.models import Membership, Room, SafetyPlan, SafetyPlanShare, SupportSession, User
from peerchat.services.rooms import room_create
from peerchat.services.safety_plans import (
    safety_plan_save,
    safety_plan_share,
    safety_plan_withdraw,
)
from peerchat.services.users import seeker_create, staff_user_upsert
from tests.wsclient import open_socket

PLAN = {
    "warning_signs": "Not sleeping.\nWanting to be on my own.",
    "things_that_help": "Holding something cold. <b>Music</b> & a walk.",
    "people_and_places": "My sister; the library.",
    "professional_contacts": "GP surgery, weekday mornings.",
}


def make_session(seeker: User, supporter: User) -> SupportSession:
    """A one-to-one support chat built directly: room, both memberships, active session."""
    room = room_create(
        kind=Room.Kind.ONE_TO_ONE,
        members=[(seeker, Membership.Role.SEEKER), (supporter, Membership.Role.SUPPORTER)],
    )
    return SupportSession.objects.create(room=room, seeker=seeker, supporter=supporter)


def make_moderator() -> User:
    return staff_user_upsert(
        username="morgan", role=User.Role.MODERATOR, password="a-long-test-password", handle="Mo"
    )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def plan_url(room_id: int) -> str:
    return f"/api/v1/support/sessions/{room_id}/safety-plan"


# Writing the plan --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_saving_creates_then_updates_and_keeps_text_exactly_as_typed(seeker):
    safety_plan_save(seeker=seeker, **PLAN)
    safety_plan_save(seeker=seeker, warning_signs="  Changed.  ")
    plan = SafetyPlan.objects.get(seeker=seeker)
    assert plan.warning_signs == "  Changed.  "
    assert plan.things_that_help == PLAN["things_that_help"]  # not given: kept, not escaped
    assert SafetyPlan.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"warning_signs": "x" * 2001}, "too_long"),
        ({"favourite_colour": "blue"}, "invalid_field"),
        ({"things_that_help": 7}, "invalid_field"),
        ({"people_and_places": "a\x00b"}, "invalid_field"),
    ],
)
def test_saving_refuses_what_is_not_a_plan(seeker, fields, code):
    with pytest.raises(PeerchatError) as refused:
        safety_plan_save(seeker=seeker, **fields)
    assert refused.value.code == code
    assert not SafetyPlan.objects.exists()


@pytest.mark.django_db
def test_a_plan_field_of_exactly_the_limit_is_kept(seeker):
    safety_plan_save(seeker=seeker, warning_signs="x" * 2000)
    assert len(SafetyPlan.objects.get(seeker=seeker).warning_signs) == 2000


@pytest.mark.django_db
def test_staff_have_no_safety_plan(supporter):
    with pytest.raises(Forbidden):
        safety_plan_save(seeker=supporter, **PLAN)


@pytest.mark.django_db
def test_the_api_reads_and_writes_the_seekers_own_plan(seeker):
    client = signed_in(seeker)
    empty = client.get("/api/v1/safety-plan").json()
    assert empty == {**dict.fromkeys(PLAN, ""), "updated_at": None, "shared_in_rooms": []}
    response = client.put("/api/v1/safety-plan", PLAN, content_type="application/json")
    assert response.status_code == 200
    again = client.get("/api/v1/safety-plan")
    assert {k: again.json()[k] for k in PLAN} == PLAN
    assert again.headers["Cache-Control"].startswith("max-age=0")
    bad = client.put(
        "/api/v1/safety-plan", {"warning_signs": "x" * 2001}, content_type="application/json"
    )
    assert (bad.status_code, bad.json()["error"]) == (400, "too_long")
    assert client.get("/api/v1/safety-plan").json()["warning_signs"] == PLAN["warning_signs"]


@pytest.mark.django_db
def test_the_plan_api_is_for_signed_in_seekers_only(supporter):
    assert Client().get("/api/v1/safety-plan").status_code == 401
    response = signed_in(supporter).put(
        "/api/v1/safety-plan", PLAN, content_type="application/json"
    )
    assert (response.status_code, response.json()["error"]) == (403, "forbidden")
    assert not SafetyPlan.objects.exists()


# Sharing -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_shared_plan_reaches_only_the_supporter_of_that_chat(seeker, supporter, other_supporter):
    safety_plan_save(seeker=seeker, **PLAN)
    session = make_session(seeker, supporter)
    room_id = session.room_id
    other_seeker = seeker_create()
    moderator = make_moderator()
    # Staff who may be in the room as observers still do not get the plan.
    Membership.objects.create(room=session.room, user=moderator, role=Membership.Role.MODERATOR)

    def status(user, room=room_id):
        response = signed_in(user).get(plan_url(room))
        return response.status_code, response.json().get("error")

    not_found = (404, "not_found")
    assert status(supporter) == not_found  # not shared yet
    share = signed_in(seeker).post(f"{plan_url(room_id)}/share")
    assert share.json() == {"room": room_id, "shared": True}

    response = signed_in(supporter).get(plan_url(room_id))
    assert response.status_code == 200
    assert {k: response.json()[k] for k in PLAN} == PLAN
    for stranger in (other_seeker, other_supporter, moderator, seeker):
        assert status(stranger) == not_found
    # A room that does not exist answers exactly the same: no hint that a plan exists.
    assert status(supporter, room=room_id + 1000) == not_found
    assert signed_in(supporter).get(plan_url(room_id + 1000)).json() == (
        signed_in(other_supporter).get(plan_url(room_id)).json()
    )


@pytest.mark.django_db
def test_withdrawing_hides_the_plan_again(seeker, supporter):
    safety_plan_save(seeker=seeker, **PLAN)
    room_id = make_session(seeker, supporter).room_id
    client = signed_in(seeker)
    client.post(f"{plan_url(room_id)}/share")
    assert signed_in(supporter).get(plan_url(room_id)).status_code == 200
    response = client.post(f"{plan_url(room_id)}/withdraw")
    assert response.json() == {"room": room_id, "shared": False}
    assert signed_in(supporter).get(plan_url(room_id)).status_code == 404
    assert client.get("/api/v1/safety-plan").json()["shared_in_rooms"] == []
    assert client.post(f"{plan_url(room_id)}/withdraw").status_code == 200  # twice: harmless


@pytest.mark.django_db
def test_the_share_ends_with_the_chat(seeker, supporter):
    safety_plan_save(seeker=seeker, **PLAN)
    session = make_session(seeker, supporter)
    safety_plan_share(seeker=seeker, room_id=session.room_id)
    assert signed_in(supporter).get(plan_url(session.room_id)).status_code == 200
    SupportSession.objects.filter(pk=session.pk).update(
        state=SupportSession.State.ENDED, ended_at=timezone.now()
    )
    assert signed_in(supporter).get(plan_url(session.room_id)).status_code == 404
    with pytest.raises(NotFound):
        safety_plan_share(seeker=seeker, room_id=session.room_id)


@pytest.mark.django_db
def test_after_a_transfer_only_the_new_supporter_reads_it(seeker, supporter, other_supporter):
    safety_plan_save(seeker=seeker, **PLAN)
    session = make_session(seeker, supporter)
    safety_plan_share(seeker=seeker, room_id=session.room_id)
    SupportSession.objects.filter(pk=session.pk).update(supporter=other_supporter)
    assert signed_in(supporter).get(plan_url(session.room_id)).status_code == 404
    assert signed_in(other_supporter).get(plan_url(session.room_id)).status_code == 200


@pytest.mark.django_db
def test_sharing_twice_keeps_one_share(seeker, supporter):
    safety_plan_save(seeker=seeker, **PLAN)
    room_id = make_session(seeker, supporter).room_id
    first = safety_plan_share(seeker=seeker, room_id=room_id)
    second = safety_plan_share(seeker=seeker, room_id=room_id)
    assert first.pk == second.pk
    assert SafetyPlanShare.objects.count() == 1


@pytest.mark.django_db
def test_a_seeker_can_share_only_in_their_own_active_chat(seeker, supporter):
    other_seeker = seeker_create()
    safety_plan_save(seeker=other_seeker, **PLAN)
    room_id = make_session(seeker, supporter).room_id
    response = signed_in(other_seeker).post(f"{plan_url(room_id)}/share")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    response = signed_in(supporter).post(f"{plan_url(room_id)}/share")
    assert response.status_code == 403
    assert not SafetyPlanShare.objects.exists()


@pytest.mark.django_db
def test_an_empty_plan_is_not_shared(seeker, supporter):
    room_id = make_session(seeker, supporter).room_id
    response = signed_in(seeker).post(f"{plan_url(room_id)}/share")
    assert (response.status_code, response.json()["error"]) == (409, "safety_plan_empty")
    safety_plan_save(seeker=seeker, warning_signs="   ")
    with pytest.raises(PeerchatError):
        safety_plan_share(seeker=seeker, room_id=room_id)
    assert not SafetyPlanShare.objects.exists()


@pytest.mark.django_db
def test_only_the_plan_of_that_chats_seeker_is_ever_shown(seeker, supporter):
    """A share row pointing at someone else's plan (a bug elsewhere) still shows nothing."""
    other_seeker = seeker_create()
    other_plan = safety_plan_save(seeker=other_seeker, **PLAN)
    session = make_session(seeker, supporter)
    SafetyPlanShare.objects.create(plan=other_plan, session=session)
    assert signed_in(supporter).get(plan_url(session.room_id)).status_code == 404


# The live frame ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_sharing_withdrawing_and_editing_update_the_supporters_page_live(
    seeker, supporter, other_supporter
):
    await database_sync_to_async(safety_plan_save)(seeker=seeker, **PLAN)
    session = await database_sync_to_async(make_session)(seeker, supporter)
    elsewhere = await database_sync_to_async(make_session)(
        await database_sync_to_async(seeker_create)(), other_supporter
    )
    room_id = session.room_id
    watcher = await open_socket(supporter)
    await watcher.join(room_id)
    bystander = await open_socket(other_supporter)
    await bystander.join(elsewhere.room_id)

    await database_sync_to_async(safety_plan_share)(seeker=seeker, room_id=room_id)
    assert await watcher.recv() == {"type": "safety_plan", "room": room_id, "shared": True}
    await database_sync_to_async(safety_plan_share)(seeker=seeker, room_id=room_id)
    assert await watcher.nothing()  # sharing again changes nothing and says nothing

    await database_sync_to_async(safety_plan_save)(seeker=seeker, warning_signs="Edited.")
    assert await watcher.recv() == {"type": "safety_plan", "room": room_id, "shared": True}

    await database_sync_to_async(safety_plan_withdraw)(seeker=seeker, room_id=room_id)
    assert await watcher.recv() == {"type": "safety_plan", "room": room_id, "shared": False}
    assert await bystander.nothing()
    await watcher.close()
    await bystander.close()


# The page ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_plan_page_is_a_plain_labelled_form_that_saves(seeker):
    client = signed_in(seeker)
    page = client.get("/safety-plan/")
    html = page.content.decode()
    assert page.status_code == 200
    for name in PLAN:
        assert f'<label for="plan-{name}">' in html
        assert f'<textarea id="plan-{name}" name="{name}"' in html
    assert "csrfmiddlewaretoken" in html
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    assert "Saved" not in html

    posted = {**PLAN, "warning_signs": "\nFirst line\r\nsecond line"}
    response = client.post("/safety-plan/", posted)
    assert (response.status_code, response.headers["Location"]) == (302, "/safety-plan/?saved=1")
    plan = SafetyPlan.objects.get(seeker=seeker)
    assert plan.warning_signs == "\nFirst line\nsecond line"
    saved = client.get("/safety-plan/?saved=1").content.decode()
    assert "Saved" in saved
    # Shown escaped, and a leading line break survives the textarea.
    assert "&lt;b&gt;Music&lt;/b&gt; &amp; a walk." in saved
    assert "\n\nFirst line\nsecond line</textarea>" in saved


@pytest.mark.django_db
def test_the_plan_page_keeps_what_was_typed_when_a_part_is_too_long(seeker):
    client = signed_in(seeker)
    response = client.post("/safety-plan/", {**PLAN, "people_and_places": "y" * 2001})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'aria-invalid="true"' in html and "up to 2000 characters" in html
    assert "Holding something cold." in html
    assert not SafetyPlan.objects.exists()


@pytest.mark.django_db
def test_staff_and_strangers_are_sent_away_from_the_plan_page(seeker, supporter):
    safety_plan_save(seeker=seeker, **PLAN)
    response = signed_in(supporter).get("/safety-plan/")
    assert (response.status_code, response.headers["Location"]) == (302, "/chat/")
    response = signed_in(supporter).post("/safety-plan/", PLAN)
    assert (response.status_code, response.headers["Location"]) == (302, "/chat/")
    assert Client().get("/safety-plan/").headers["Location"] == "/"
    assert not SafetyPlan.objects.filter(seeker=supporter).exists()


@pytest.mark.django_db
def test_the_plan_page_shares_and_stops_sharing(seeker, supporter):
    safety_plan_save(seeker=seeker, **PLAN)
    room_id = make_session(seeker, supporter).room_id
    client = signed_in(seeker)
    assert "Share my plan with Alex" in client.get("/safety-plan/").content.decode()
    response = client.post("/safety-plan/share/", {"room": room_id})
    assert response.status_code == 302
    assert signed_in(supporter).get(plan_url(room_id)).status_code == 200
    assert "Stop sharing with Alex" in client.get("/safety-plan/").content.decode()
    client.post("/safety-plan/withdraw/", {"room": room_id})
    assert signed_in(supporter).get(plan_url(room_id)).status_code == 404


@pytest.mark.django_db
def test_the_plan_page_says_kindly_when_sharing_is_not_possible(seeker, supporter):
    room_id = make_session(seeker, supporter).room_id  # no plan written yet
    response = signed_in(seeker).post("/safety-plan/share/", {"room": room_id})
    assert response.status_code == 409
    assert "Write it first" in response.content.decode()
