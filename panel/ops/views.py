"""/healthz: database, broker and worker heartbeat as JSON; 200 when all are healthy, else 503.

Anyone may read it (load balancers, Docker, monitoring), so it carries no secret: no URL, no
host name of a backing service, and only the class name of an error, never its message (a
driver's message can contain the connection string).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .heartbeat import last_beat, max_age

OK, ERROR = "ok", "error"


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        return {"status": ERROR, "vendor": connection.vendor, "error": type(exc).__name__}
    return {"status": OK, "vendor": connection.vendor}


def _broker(database_ok: bool) -> dict[str, Any]:
    if not settings.REDIS_URL:
        # django-q2's ORM broker is a table in the same database.
        info: dict[str, Any] = {"status": OK if database_ok else ERROR, "type": "orm"}
        if database_ok:
            from django_q.models import OrmQ

            info["queued"] = OrmQ.objects.count()
        return info
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001
        return {"status": ERROR, "type": "redis", "error": type(exc).__name__}
    return {"status": OK, "type": "redis"}


def _worker(database_ok: bool) -> dict[str, Any]:
    limit = max_age()
    if not database_ok:
        return {
            "status": ERROR,
            "last_heartbeat": None,
            "age_seconds": None,
            "max_age_seconds": limit,
        }
    try:
        at, age = last_beat()
    except Exception as exc:  # noqa: BLE001 - e.g. the table is missing before migrate
        return {"status": ERROR, "error": type(exc).__name__, "max_age_seconds": limit}
    return {
        "status": OK if age is not None and age <= limit else ERROR,
        "last_heartbeat": at.isoformat() if at else None,
        "age_seconds": round(age, 1) if age is not None else None,
        "max_age_seconds": limit,
    }


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    database = _database()
    database_ok = database["status"] == OK
    body: dict[str, Any] = {
        "database": database,
        "broker": _broker(database_ok),
        "worker": _worker(database_ok),
    }
    healthy = all(part["status"] == OK for part in body.values())
    body["status"] = OK if healthy else ERROR
    return JsonResponse(body, status=200 if healthy else 503)
