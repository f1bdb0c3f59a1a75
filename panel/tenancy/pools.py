"""Per-site php-fpm pools, applied as one transaction per batch through the root helper's
`pool-apply` (write, `php-fpm -t`, roll back what php-fpm refuses, reload once)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import rootcmd


def apply(changes: Mapping[str, str | None]) -> dict[str, Any]:
    """{domain: site user, or None to remove} -> {"applied", "rejected", "reloaded"}."""
    if not changes or not rootcmd.isolation_enabled():
        return {"applied": list(changes), "rejected": {}, "reloaded": False}
    try:
        out = rootcmd.run("pool-apply", stdin=json.dumps(dict(changes)))
        return json.loads(out)
    except rootcmd.HelperError as exc:
        return {"applied": [], "rejected": dict.fromkeys(changes, str(exc)), "reloaded": False}
