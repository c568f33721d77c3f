"""The moderators' JSON API, one module per area; docs/api.md lists every route."""

from moderation.api import escalations, oversight, retention, review

urlpatterns = [
    *review.urlpatterns,
    *escalations.urlpatterns,
    *oversight.urlpatterns,
    *retention.urlpatterns,
]
