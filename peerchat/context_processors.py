from django.conf import settings


def safety(request):
    """Crisis resources and the quick exit, on every page."""
    return {
        "crisis_resources": settings.CRISIS_RESOURCES,
        "quick_exit_url": settings.QUICK_EXIT_URL,
    }
