"""Recursive-descent parser: expression text -> small immutable AST (research §4.2).

There are no operators in the language; everything is a literal, a function call, or a
property/index access on one of those. Parsed trees are cached by text because real
templates repeat the same expression many times (copy loops, Bicep output).
"""

from __future__ import annotations

from functools import lru_cache

from provider.templates import lexer
from provider.templates.errors import ExpressionError
from provider.templates.lexer import Token, tokenize


class Node:
    __slots__ = ("pos",)


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, value: object, pos: int) -> None:
        self.value = value
        self.pos = pos

    def __repr__(self) -> str:
        return f"Literal({self.value!r})"


class Call(Node):
    __slots__ = ("name", "namespace", "key", "args")

    def __init__(self, name: str, namespace: str | None, args: tuple[Node, ...], pos: int) -> None:
        self.name = name
        self.namespace = namespace
        self.key = name.lower()
        self.args = args
        self.pos = pos

    @property
    def display_name(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name

    def __repr__(self) -> str:
        return f"Call({self.display_name}, {list(self.args)!r})"


class Member(Node):
    """`target.name` property access."""

    __slots__ = ("target", "name")

    def __init__(self, target: Node, name: str, pos: int) -> None:
        self.target = target
        self.name = name
        self.pos = pos

    def __repr__(self) -> str:
        return f"Member({self.target!r}, {self.name!r})"


class Index(Node):
    """`target[expr]` indexer."""

    __slots__ = ("target", "index")

    def __init__(self, target: Node, index: Node, pos: int) -> None:
        self.target = target
        self.index = index
        self.pos = pos

    def __repr__(self) -> str:
        return f"Index({self.target!r}, {self.index!r})"


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, kind: str) -> Token:
        tok = self.next()
        if tok.kind != kind:
            raise _unexpected(tok, f"expected {kind}")
        return tok

    def term(self) -> Node:
        node = self.primary()
        while True:
            tok = self.peek()
            if tok.kind == lexer.DOT:
                self.next()
                name = self.next()
                if name.kind != lexer.IDENT:
                    raise _unexpected(name, "expected a property name")
                node = Member(node, str(name.value), name.pos)
            elif tok.kind == lexer.LBRACK:
                self.next()
                index = self.term()
                self.expect(lexer.RBRACK)
                node = Index(node, index, tok.pos)
            else:
                return node

    def primary(self) -> Node:
        tok = self.next()
        if tok.kind == lexer.STRING or tok.kind == lexer.INT:
            return Literal(tok.value, tok.pos)
        if tok.kind != lexer.IDENT:
            raise _unexpected(tok, "expected a function call, a string or an integer")
        namespace = None
        name = str(tok.value)
        if self.peek().kind == lexer.DOT:
            self.next()
            member = self.next()
            if member.kind != lexer.IDENT:
                raise _unexpected(member, "expected a function name")
            namespace, name = name, str(member.value)
        if self.peek().kind != lexer.LPAREN:
            raise _unexpected(self.peek(), f"expected '(' after the function name '{name}'")
        self.next()
        args: list[Node] = []
        if self.peek().kind != lexer.RPAREN:
            while True:
                args.append(self.term())
                sep = self.next()
                if sep.kind == lexer.RPAREN:
                    break
                if sep.kind != lexer.COMMA:
                    raise _unexpected(sep, "expected ',' or ')'")
        else:
            self.next()
        return Call(name, namespace, tuple(args), tok.pos)


def _unexpected(tok: Token, hint: str) -> ExpressionError:
    shown = "end of expression" if tok.kind == lexer.EOF else f"'{tok.value}'"
    return ExpressionError(f"{shown} at position {tok.pos} is not expected ({hint})", tok.pos)


def is_expression(value: str) -> bool:
    """A JSON string is an expression when it is `[...]` and does not start with `[[`."""
    return len(value) >= 2 and value[0] == "[" and value[-1] == "]" and value[1] != "["


@lru_cache(maxsize=65536)
def parse_expression(text: str) -> Node:
    """Parse a whole JSON string value `[ ... ]`; positions count from its first character."""
    try:
        parser = _Parser(tokenize(text[1:-1], offset=1))
        if parser.peek().kind == lexer.EOF:
            raise ExpressionError("the expression is empty", 1)
        node = parser.term()
        tail = parser.peek()
        if tail.kind != lexer.EOF:
            raise _unexpected(tail, "expected the end of the expression")
        return node
    except ExpressionError as exc:
        err = ExpressionError(f"The language expression '{text}' is not valid: {exc.message}.", exc.position)
        err.expression = text  # type: ignore[attr-defined]
        raise err from None
