"""The review queue, decisions on held messages, "try a phrase", policy additions."""

from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_http_methods

from moderation import selectors, services
from moderation.screening import review_item
from peerchat.api.common import answers_errors, json_body, roles_only

STAFF = ("moderator", "admin")


def _text(data: dict, field: str, *, required: bool = False) -> str:
    value = data.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise services.BadRequest(f"'{field}' must be a string.")
    return value


@require_http_methods(["GET"])
@roles_only(*STAFF)
def queue(request):
    return JsonResponse(selectors.review_queue())


def _decision(service):
    @require_http_methods(["POST"])
    @roles_only(*STAFF)
    @answers_errors
    def view(request, screening_id: int):
        data = json_body(request)
        screening = service(
            screening_id=screening_id, moderator=request.user, note=_text(data, "note")
        )
        return JsonResponse({"item": review_item(screening)})

    return view


@require_http_methods(["POST"])
@roles_only(*STAFF)
@answers_errors
def note_add(request, screening_id: int):
    data = json_body(request)
    screening = services.screening_note_add(
        screening_id=screening_id, moderator=request.user, body=_text(data, "body", required=True)
    )
    return JsonResponse({"item": review_item(screening)})


@require_http_methods(["POST"])
@roles_only(*STAFF)
@answers_errors
def report(request, screening_id: int):
    data = json_body(request)
    case = services.screening_report(
        screening_id=screening_id,
        moderator=request.user,
        kind=_text(data, "kind", required=True),
        expected=_text(data, "expected", required=True),
        note=_text(data, "note"),
    )
    return JsonResponse({"case": selectors.filter_case_dict(case)}, status=201)


@require_http_methods(["POST"])
@roles_only(*STAFF)
@answers_errors
def try_phrase(request):
    data = json_body(request)
    verdict = services.filter_try(
        text=_text(data, "text", required=True), room_kind=data.get("room_kind") or "one_to_one"
    )
    return JsonResponse(
        {
            "verdict": {
                "action": verdict.action,
                "escalate": verdict.escalate,
                "categories": list(verdict.categories),
                "rule_ids": list(verdict.rule_ids),
                "spans": [[s.start, s.end, s.rule] for s in verdict.spans],
                "policy_version": verdict.policy_version,
                "masked_text": verdict.masked_text,
                "protected_by": list(verdict.protected_by),
            }
        }
    )


@require_http_methods(["POST"])
@roles_only(*STAFF)
@answers_errors
def case_create(request):
    data = json_body(request)
    case = services.filter_case_report(
        moderator=request.user,
        text=_text(data, "text", required=True),
        room_kind=data.get("room_kind") or "one_to_one",
        kind=_text(data, "kind", required=True),
        expected=_text(data, "expected", required=True),
        note=_text(data, "note"),
    )
    return JsonResponse({"case": selectors.filter_case_dict(case)}, status=201)


@require_http_methods(["GET"])
@roles_only(*STAFF)
def cases_export(request):
    response = HttpResponse(selectors.filter_cases_jsonl(), content_type="application/x-ndjson")
    response["Content-Disposition"] = 'attachment; filename="filter-cases.jsonl"'
    return response


@require_http_methods(["GET", "POST"])
@roles_only(*STAFF)
@answers_errors
def terms(request):
    if request.method == "POST":
        data = json_body(request)
        added = services.policy_term_add(
            moderator=request.user,
            group=_text(data, "group", required=True),
            term=_text(data, "term", required=True),
            note=_text(data, "note"),
        )
        return JsonResponse(
            {
                "term": selectors.policy_term_dict(added),
                "policy_version": services.policy_version(),
            },
            status=201,
        )
    return JsonResponse(
        {
            "terms": selectors.policy_terms(),
            "groups": services.policy_groups(),
            "policy_version": services.policy_version(),
        }
    )


@require_http_methods(["DELETE"])
@roles_only(*STAFF)
@answers_errors
def term_remove(request, term_id: int):
    services.policy_term_remove(moderator=request.user, term_id=term_id)
    return JsonResponse({"policy_version": services.policy_version()})


urlpatterns = [
    path("api/moderation/queue", queue),
    path("api/moderation/items/<int:screening_id>/release", _decision(services.screening_release)),
    path("api/moderation/items/<int:screening_id>/keep", _decision(services.screening_keep)),
    path("api/moderation/items/<int:screening_id>/notes", note_add),
    path("api/moderation/items/<int:screening_id>/report", report),
    path("api/moderation/try", try_phrase),
    path("api/moderation/cases", case_create),
    path("api/moderation/cases.jsonl", cases_export),
    path("api/moderation/terms", terms),
    path("api/moderation/terms/<int:term_id>", term_remove),
]
