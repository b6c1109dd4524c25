"""MySQL's CONVERT_TZ(dt, from_tz, to_tz): named zones (the IANA database Python ships or the system's),
``+HH:MM`` offsets, and ``SYSTEM`` (the node's zone). NULL for an unknown zone or value, as MySQL.

Django asks ``CONVERT_TZ('2001-01-01 01:00:00', 'UTC', 'UTC') IS NOT NULL`` at connect to learn whether
the server has time zone tables.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from typing import Any

_OFFSET = re.compile(r"^([+-])(\d{1,2}):(\d{2})$")
_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


def zone(name: Any) -> datetime.tzinfo | None:
    """The time zone a MySQL zone name or offset names, or None."""
    if not isinstance(name, str):
        return None
    text = name.strip()
    match = _OFFSET.match(text)
    if match is not None:
        hours, minutes = int(match.group(2)), int(match.group(3))
        if hours > 14 or minutes > 59:
            return None
        delta = datetime.timedelta(hours=hours, minutes=minutes)
        return datetime.timezone(-delta if match.group(1) == "-" else delta)
    if text.upper() == "SYSTEM":
        return datetime.datetime.now().astimezone().tzinfo
    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def convert_tz(value: Any, source: Any, target: Any) -> str | None:
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    from_zone, to_zone = zone(source), zone(target)
    if from_zone is None or to_zone is None:
        return None
    for fmt in _FORMATS:
        try:
            moment = datetime.datetime.strptime(text.strip(), fmt)
            break
        except ValueError:
            continue
    else:
        return None
    shifted = moment.replace(tzinfo=from_zone).astimezone(to_zone).replace(tzinfo=None)
    return shifted.strftime("%Y-%m-%d %H:%M:%S.%f" if moment.microsecond else "%Y-%m-%d %H:%M:%S")
