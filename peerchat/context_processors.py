from django.conf import settings
from django.utils.functional import SimpleLazyObject

from peerchat.selectors.supervision import is_supervisor


def safety(request):
    """What every page's frame needs: crisis resources and the quick exit, and the staff nav.

    `nav_supervision` (show the "Supervision" link) is lazy: only a page whose nav asks pays
    for its one permission check.
    """
    return {
        "crisis_resources": settings.CRISIS_RESOURCES,
        "quick_exit_url": settings.QUICK_EXIT_URL,
        "nav_supervision": SimpleLazyObject(lambda: is_supervisor(request.user)),
    }
