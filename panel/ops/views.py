"""/healthz: database, broker and worker heartbeat (placeholder until the operations work lands)."""

from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
