"""Recursive-descent parser turning tokens into path segments."""

from collections import namedtuple

from .errors import JSONPathSyntaxError
from .lexer import tokenize

# Path segments
Child = namedtuple("Child", ["names"])            # one or more member names
Index = namedtuple("Index", ["indices"])          # one or more array indices
Slice = namedtuple("Slice", ["start", "stop", "step"])
Wildcard = namedtuple("Wildcard", [])
Descend = namedtuple("Descend", ["segment"])      # ..segment
Filter = namedtuple("Filter", ["expr"])

# Filter expression nodes
Literal = namedtuple("Literal", ["value"])
Relative = namedtuple("Relative", ["segments"])   # @.a.b
Compare = namedtuple("Compare", ["op", "left", "right"])
And = namedtuple("And", ["left", "right"])
Or = namedtuple("Or", ["left", "right"])
Not = namedtuple("Not", ["operand"])

_KEYWORDS = {"true": True, "false": False, "null": None}


class Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers ---------------------------------------------------

    @property
    def tok(self):
        return self.tokens[self.i]

    def advance(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, kind):
        if self.tok.kind == kind:
            return self.advance()
        return None

    def expect(self, kind):
        if self.tok.kind != kind:
            got = self.tok.value if self.tok.kind != "EOF" else "end of input"
            raise JSONPathSyntaxError("expected %r, got %r" % (kind, got), self.tok.pos)
        return self.advance()

    # -- paths -----------------------------------------------------------

    def parse_path(self):
        self.expect("$")
        segments = self.parse_segments()
        self.expect("EOF")
        return segments

    def parse_segments(self):
        segments = []
        while True:
            if self.accept("."):
                segments.append(self.parse_dot_member())
            elif self.accept("DOTDOT"):
                if self.tok.kind == "[":
                    self.advance()
                    segments.append(Descend(self.parse_bracket()))
                else:
                    segments.append(Descend(self.parse_dot_member()))
            elif self.accept("["):
                segments.append(self.parse_bracket())
            else:
                return segments

    def parse_dot_member(self):
        if self.accept("*"):
            return Wildcard()
        tok = self.tok
        if tok.kind == "NAME":
            self.advance()
            return Child((tok.value,))
        raise JSONPathSyntaxError("expected a member name", tok.pos)

    def parse_bracket(self):
        """Parse what follows '[' up to and including the closing ']'."""
        tok = self.tok
        if self.accept("*"):
            seg = Wildcard()
        elif self.accept("?"):
            self.expect("(")
            seg = Filter(self.parse_or())
            self.expect(")")
        elif tok.kind == "STRING":
            names = [self.advance().value]
            while self.accept(","):
                names.append(self.expect("STRING").value)
            seg = Child(tuple(names))
        elif tok.kind in ("NUMBER", ":"):
            seg = self.parse_index_or_slice()
        else:
            raise JSONPathSyntaxError("unexpected token in brackets", tok.pos)
        self.expect("]")
        return seg

    def parse_int(self):
        tok = self.expect("NUMBER")
        if not isinstance(tok.value, int):
            raise JSONPathSyntaxError("array index must be an integer", tok.pos)
        return tok.value

    def parse_index_or_slice(self):
        parts = [None]
        if self.tok.kind == "NUMBER":
            parts[0] = self.parse_int()
        if self.tok.kind != ":":
            indices = [parts[0]]
            while self.accept(","):
                indices.append(self.parse_int())
            return Index(tuple(indices))
        while self.accept(":"):
            parts.append(self.parse_int() if self.tok.kind == "NUMBER" else None)
        if len(parts) > 3:
            raise JSONPathSyntaxError("too many ':' in slice", self.tok.pos)
        while len(parts) < 3:
            parts.append(None)
        return Slice(*parts)

    # -- filter expressions ----------------------------------------------

    def parse_or(self):
        node = self.parse_and()
        while self.accept("OR"):
            node = Or(node, self.parse_and())
        return node

    def parse_and(self):
        node = self.parse_not()
        while self.accept("AND"):
            node = And(node, self.parse_not())
        return node

    def parse_not(self):
        if self.accept("NOT"):
            return Not(self.parse_not())
        return self.parse_comparison()

    def parse_comparison(self):
        left = self.parse_operand()
        if self.tok.kind == "OP":
            op = self.advance().value
            return Compare(op, left, self.parse_operand())
        return left

    def parse_operand(self):
        tok = self.tok
        if self.accept("("):
            node = self.parse_or()
            self.expect(")")
            return node
        if self.accept("@"):
            return Relative(tuple(self.parse_segments()))
        if tok.kind in ("NUMBER", "STRING"):
            self.advance()
            return Literal(tok.value)
        if tok.kind == "NAME" and tok.value in _KEYWORDS:
            self.advance()
            return Literal(_KEYWORDS[tok.value])
        raise JSONPathSyntaxError("unexpected token %r in filter" % (tok.value,), tok.pos)


def parse(text):
    """Parse a path expression into a tuple of segments."""
    return tuple(Parser(text).parse_path())
