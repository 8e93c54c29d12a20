"""Tokeniser for the ARM template expression language (research §4.2).

Positions are 0-based offsets into the expression text (the part inside the outer brackets);
the parser shifts them so errors point into the whole JSON string value.
"""

from __future__ import annotations

from dataclasses import dataclass

from provider.templates.errors import ExpressionError

IDENT, STRING, INT, LPAREN, RPAREN, LBRACK, RBRACK, COMMA, DOT, EOF = (
    "identifier",
    "string",
    "integer",
    "'('",
    "')'",
    "'['",
    "']'",
    "','",
    "'.'",
    "end of expression",
)

_PUNCT = {"(": LPAREN, ")": RPAREN, "[": LBRACK, "]": RBRACK, ",": COMMA, ".": DOT}
_WS = " \t\r\n"


@dataclass(slots=True)
class Token:
    kind: str
    value: object
    pos: int


def _is_ident_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _is_ident_part(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def tokenize(text: str, offset: int = 0) -> list[Token]:
    """Split expression text into tokens; `offset` is added to every reported position."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _WS:
            i += 1
            continue
        start = i
        if ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, start + offset))
            i += 1
        elif ch == "'":
            i += 1
            parts: list[str] = []
            while True:
                end = text.find("'", i)
                if end < 0:
                    raise ExpressionError(f"the string literal starting at position {start + offset} is not terminated",
                                          start + offset)
                parts.append(text[i:end])
                if end + 1 < n and text[end + 1] == "'":
                    parts.append("'")
                    i = end + 2
                    continue
                i = end + 1
                break
            tokens.append(Token(STRING, "".join(parts), start + offset))
        elif ch.isdigit() or (ch == "-" and i + 1 < n and text[i + 1].isdigit()):
            i += 1
            while i < n and text[i].isdigit():
                i += 1
            if i < n and (text[i] == "." and i + 1 < n and text[i + 1].isdigit()):
                raise ExpressionError(
                    f"the number at position {start + offset} is not an integer; use json('…') for other numbers",
                    start + offset)
            tokens.append(Token(INT, int(text[start:i]), start + offset))
        elif _is_ident_start(ch):
            i += 1
            while i < n and _is_ident_part(text[i]):
                i += 1
            tokens.append(Token(IDENT, text[start:i], start + offset))
        else:
            raise ExpressionError(f"the character '{ch}' at position {start + offset} is not expected", start + offset)
    tokens.append(Token(EOF, None, n + offset))
    return tokens
