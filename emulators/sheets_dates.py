"""Dates and times typed into the Sheets emulator: parsing, serial numbers, formatted strings.

Sheets stores a date as a serial number (days since 1899-12-30, the time as the fraction) with a
date number format. USER_ENTERED text in the en_US forms below becomes such a cell; its format
follows what was typed, as the Sheets UI does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

EPOCH = datetime(1899, 12, 30)

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp][Mm]))?$")


@dataclass(frozen=True)
class DateTime:
    """A date/time cell: ``serial`` (float days) and the number format ``pattern`` it shows with."""

    serial: float
    pattern: str

    def number(self) -> int | float:
        return int(self.serial) if float(self.serial).is_integer() else self.serial

    def text(self) -> str:
        return format_serial(self.serial, self.pattern)


def _serial(moment: datetime) -> float:
    delta = moment - EPOCH
    return delta.days + delta.seconds / 86400


def parse_date(text: str) -> DateTime | None:
    """The cell USER_ENTERED ``text`` becomes when it is a date or time, else None."""
    text = text.strip()
    try:
        m = _ISO.match(text)
        if m:
            y, mo, d = int(m[1]), int(m[2]), int(m[3])
            moment = datetime(y, mo, d, int(m[4] or 0), int(m[5] or 0), int(m[6] or 0))
            pattern = "yyyy-mm-dd" if m[4] is None else "yyyy-mm-dd H:mm:ss"
            return DateTime(_serial(moment), pattern)
        m = _US.match(text)
        if m:
            mo, d, y = int(m[1]), int(m[2]), int(m[3])
            moment = datetime(y, mo, d, int(m[4] or 0), int(m[5] or 0), int(m[6] or 0))
            pattern = "M/d/yyyy" if m[4] is None else "M/d/yyyy H:mm:ss"
            return DateTime(_serial(moment), pattern)
        m = _TIME.match(text)
        if m:
            hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
            if m[4]:
                if not 1 <= hour <= 12:
                    return None
                hour = hour % 12 + (12 if m[4].upper() == "PM" else 0)
            if hour > 23 or minute > 59 or second > 59:
                return None
            # en_US shows any typed time with its default time format, 12-hour with AM/PM
            return DateTime((hour * 3600 + minute * 60 + second) / 86400, "h:mm:ss am/pm")
    except ValueError:  # 2/30/2024 and the like stay text, as in Sheets
        return None
    return None


def to_datetime(serial: float) -> datetime:
    seconds = round(serial * 86400)
    return EPOCH + timedelta(seconds=seconds)


def format_serial(serial: float, pattern: str) -> str:
    """Render ``serial`` with one of the patterns ``parse_date`` produces."""
    moment = to_datetime(serial)
    day: date = moment.date()
    hms = f"{moment.hour}:{moment.minute:02d}:{moment.second:02d}"
    renders = {
        "yyyy-mm-dd": lambda: day.isoformat(),
        "yyyy-mm-dd H:mm:ss": lambda: f"{day.isoformat()} {hms}",
        "M/d/yyyy": lambda: f"{day.month}/{day.day}/{day.year}",
        "M/d/yyyy H:mm:ss": lambda: f"{day.month}/{day.day}/{day.year} {hms}",
        "h:mm:ss am/pm": lambda: (f"{(moment.hour % 12) or 12}:{moment.minute:02d}:"
                                  f"{moment.second:02d} {'PM' if moment.hour >= 12 else 'AM'}"),
    }
    return renders.get(pattern, renders["M/d/yyyy"])()


def number_format(pattern: str) -> dict[str, str]:
    """The ``NumberFormat`` resource of a date cell (``userEnteredFormat.numberFormat``)."""
    kind = "TIME" if pattern.startswith(("H", "h")) else ("DATE_TIME" if ":" in pattern else "DATE")
    return {"type": kind, "pattern": pattern}
