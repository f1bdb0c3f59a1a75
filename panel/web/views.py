"""Placeholder views until the web issue lands."""

from django.http import JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok"})
