"""The .NET formatting rules ARM inherits: composite format strings, numeric and date-time specifiers.

Only the invariant culture is modelled. Numeric specifiers: C, D, E, F, G, N, P, X (with
precision) and custom `0`/`#` patterns; date-time: the standard one-letter formats and the
common custom tokens (yyyy, MM, dd, HH, hh, mm, ss, f..., tt, K, z..., quoted literals).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from provider.templates.errors import ExpressionError
from provider.templates.values import is_number, to_json_text, to_string

# ---------------------------------------------------------------------------------------------
# composite format: "{index[,alignment][:formatString]}"


def composite_format(fmt: str, args: list[Any]) -> str:
    out: list[str] = []
    for piece in _parse_format(fmt):
        if isinstance(piece, str):
            out.append(piece)
            continue
        index, width, spec = piece
        if index >= len(args):
            raise ExpressionError(f"The format string '{fmt}' refers to argument {index}, but only {len(args)} "
                                  "argument(s) were given.")
        text = format_value(args[index], spec)
        if width:
            text = text.rjust(width) if width > 0 else text.ljust(-width)
        out.append(text)
    return "".join(out)


@lru_cache(maxsize=4096)
def _parse_format(fmt: str) -> tuple[str | tuple[int, int, str | None], ...]:
    """Split a composite format string into literal text and (index, alignment, format) items."""
    out: list[str | tuple[int, int, str | None]] = []
    text: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        ch = fmt[i]
        if ch in "{}" and i + 1 < n and fmt[i + 1] == ch:
            text.append(ch)
            i += 2
        elif ch == "{":
            end = fmt.find("}", i)
            if end < 0:
                raise ExpressionError(f"The format string '{fmt}' has an unclosed '{{' at position {i}.")
            if text:
                out.append("".join(text))
                text = []
            out.append(_format_item(fmt, fmt[i + 1 : end]))
            i = end + 1
        elif ch == "}":
            raise ExpressionError(f"The format string '{fmt}' has an unmatched '}}' at position {i}.")
        else:
            text.append(ch)
            i += 1
    if text:
        out.append("".join(text))
    return tuple(out)


_ITEM = re.compile(r"^\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?(?::(.*))?$", re.S)


def _format_item(fmt: str, item: str) -> tuple[int, int, str | None]:
    match = _ITEM.match(item)
    if not match:
        raise ExpressionError(f"The format string '{fmt}' has an invalid format item '{{{item}}}'.")
    return int(match.group(1)), int(match.group(2) or 0), match.group(3)


def format_value(value: Any, spec: str | None) -> str:
    if is_number(value) and spec:
        return format_number(value, spec)
    if isinstance(value, (list, dict)):
        return to_json_text(value)
    return to_string(value)


# ---------------------------------------------------------------------------------------------
# numbers


def _group(digits: str) -> str:
    return f"{int(digits):,}" if digits else digits


def format_number(value: int | float, spec: str) -> str:
    letter, rest = spec[0], spec[1:]
    precision = int(rest) if rest.isdigit() else None
    if rest and precision is None:
        return _custom_number(value, spec)
    upper = letter.upper()
    if upper == "D":
        if not isinstance(value, int):
            raise ExpressionError(f"The format specifier '{spec}' is only valid for integers.")
        sign = "-" if value < 0 else ""
        return sign + str(abs(value)).zfill(precision or 0)
    if upper == "X":
        if not isinstance(value, int):
            raise ExpressionError(f"The format specifier '{spec}' is only valid for integers.")
        text = format(value & 0xFFFFFFFFFFFFFFFF if value < 0 else value, "x").zfill(precision or 0)
        return text.upper() if letter == "X" else text
    if upper == "F":
        return f"{value:.{2 if precision is None else precision}f}"
    if upper == "N":
        return f"{value:,.{2 if precision is None else precision}f}"
    if upper == "C":
        return "¤" + f"{value:,.{2 if precision is None else precision}f}"
    if upper == "P":
        return f"{value * 100:,.{2 if precision is None else precision}f} %"
    if upper == "E":
        text = f"{value:.{6 if precision is None else precision}e}"
        mantissa, exponent = text.split("e")
        sign = exponent[0]
        text = f"{mantissa}E{sign}{exponent[1:].zfill(3)}"
        return text if letter == "E" else text.lower()
    if upper in ("G", "R"):
        return to_string(value)
    return _custom_number(value, spec)


def _custom_number(value: int | float, spec: str) -> str:
    if not re.fullmatch(r"[0#,.]+", spec):
        return spec  # literal text in a custom format prints as itself
    integer_part, _, fraction_part = spec.partition(".")
    decimals = len(fraction_part)
    grouped = "," in integer_part
    min_int = integer_part.count("0")
    number = abs(value)
    text = f"{number:.{decimals}f}"
    whole, _, frac = text.partition(".")
    whole = whole.zfill(min_int)
    if whole == "0" and min_int == 0:
        whole = ""
    if grouped and whole:
        whole = _group(whole)
    if frac:
        required = fraction_part.count("0")
        frac = frac.rstrip("0").ljust(required, "0")
    result = whole + ("." + frac if frac else "")
    return ("-" if value < 0 else "") + (result or "0")


# ---------------------------------------------------------------------------------------------
# date and time

_STANDARD = {
    "d": "MM/dd/yyyy",
    "D": "dddd, dd MMMM yyyy",
    "f": "dddd, dd MMMM yyyy HH:mm",
    "F": "dddd, dd MMMM yyyy HH:mm:ss",
    "g": "MM/dd/yyyy HH:mm",
    "G": "MM/dd/yyyy HH:mm:ss",
    "m": "MMMM dd",
    "M": "MMMM dd",
    "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "t": "HH:mm",
    "T": "HH:mm:ss",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
    "U": "dddd, dd MMMM yyyy HH:mm:ss",
    "y": "yyyy MMMM",
    "Y": "yyyy MMMM",
}
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|\\.|yyyy+|yy|y|MMMM+|MMM|MM|M|dddd+|ddd|dd|d|HH|H|hh|h|mm|m|ss|s|"
                    r"f{1,7}|F{1,7}|tt|t|K|zzz|zz|z|.", re.S)


def format_datetime(value: datetime, fmt: str) -> str:
    if len(fmt) == 1:
        if fmt not in _STANDARD:
            raise ExpressionError(f"The date-time format '{fmt}' is not valid.")
        fmt = _STANDARD[fmt]
    out: list[str] = []
    for token in _TOKEN.findall(fmt):
        out.append(_datetime_token(value, token))
    return "".join(out)


def _datetime_token(v: datetime, tok: str) -> str:
    first = tok[0]
    if first in "'\"":
        return tok[1:-1]
    if first == "\\":
        return tok[1:]
    if first == "y":
        return str(v.year % 100).zfill(2) if len(tok) == 2 else (str(v.year % 100) if len(tok) == 1
                                                                 else str(v.year).zfill(len(tok)))
    if first == "M":
        return {1: str(v.month), 2: f"{v.month:02d}", 3: _MONTHS[v.month - 1][:3]}.get(len(tok), _MONTHS[v.month - 1])
    if first == "d":
        return {1: str(v.day), 2: f"{v.day:02d}", 3: _DAYS[v.weekday()][:3]}.get(len(tok), _DAYS[v.weekday()])
    if first == "H":
        return f"{v.hour:02d}" if len(tok) == 2 else str(v.hour)
    if first == "h":
        hour = v.hour % 12 or 12
        return f"{hour:02d}" if len(tok) == 2 else str(hour)
    if first == "m":
        return f"{v.minute:02d}" if len(tok) == 2 else str(v.minute)
    if first == "s":
        return f"{v.second:02d}" if len(tok) == 2 else str(v.second)
    if first in "fF":
        digits = f"{v.microsecond:06d}0"[: len(tok)]
        return digits if first == "f" else digits.rstrip("0")
    if first == "t":
        marker = "AM" if v.hour < 12 else "PM"
        return marker if len(tok) == 2 else marker[0]
    if tok == "K":
        return "Z" if v.utcoffset() in (None, timedelta(0)) else _offset(v, True)
    if first == "z":
        return _offset(v, len(tok) == 3) if len(tok) > 1 else _offset(v, False).split(":")[0].replace("+0", "+")
    return tok


def _offset(v: datetime, with_minutes: bool) -> str:
    delta = v.utcoffset() or timedelta(0)
    total = int(delta.total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    hours, minutes = divmod(abs(total), 60)
    return f"{sign}{hours:02d}:{minutes:02d}" if with_minutes else f"{sign}{hours:02d}"


_ISO = re.compile(
    r"^\s*(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$",
    re.I,
)


def parse_datetime(text: str) -> datetime:
    """Parse an ISO-8601-style timestamp (also `yyyy-MM-dd HH:mm:ssZ` and `yyyyMMddTHHmmssZ`)."""
    match = _ISO.match(text)
    if not match:
        raise ExpressionError(f"The value '{text}' is not a valid ISO 8601 date-time.")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = UTC
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        value = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro,
                         tzinfo=tz)
    except ValueError as exc:
        raise ExpressionError(f"The value '{text}' is not a valid date-time: {exc}.") from None
    return value.astimezone(UTC)


_DURATION = re.compile(
    r"^(-)?P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$",
    re.I,
)


def parse_duration(text: str) -> timedelta:
    """ISO-8601 duration; a year counts 365 days and a month 30, as ARM documents."""
    match = _DURATION.match(text.strip())
    if not match or text.strip().upper().rstrip("T") in ("P", "-P"):
        raise ExpressionError(f"The value '{text}' is not a valid ISO 8601 duration.")
    sign, years, months, weeks, days, hours, minutes, seconds = match.groups()

    def num(part: str | None) -> float:
        return float(part) if part else 0.0

    delta = timedelta(
        days=num(years) * 365 + num(months) * 30 + num(weeks) * 7 + num(days),
        hours=num(hours),
        minutes=num(minutes),
        seconds=num(seconds),
    )
    return -delta if sign else delta


def iso_z(value: datetime) -> str:
    """`yyyy-MM-ddTHH:mm:ssZ` (fraction only when present)."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text + "Z"
