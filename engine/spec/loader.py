"""Parse YAML text into plain data plus a map from field paths to line numbers.

Why not ``yaml.safe_load``: users need errors that name the line of the offending field, YAML 1.1 would turn the
pipeline's ``on:`` key into ``True``, and duplicate keys must be an error rather than a silent overwrite.
Keys are kept as the strings written; values are resolved as YAML does. Pure: text in, data out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from wishstar.engine.spec.errors import InputTooLarge, Path, Problem, ValidationFailed

MAX_FILE_BYTES = 1024 * 1024
"""Pipeline and task files larger than this are refused before parsing (1 MiB)."""

_FAST_COMPOSER = getattr(yaml, "CSafeLoader", None)
"""libyaml's parser when PyYAML was built with it: several times faster on a 5,000-task file, with the same
line marks on nodes; it refuses nesting deeper than 1,000 levels (a ScannerError, not a crash)."""


def _compose(text: str | bytes) -> yaml.Node | None:
    """The node tree, through libyaml when available. Any error is reproduced with the pure-Python parser so
    that messages (and their line and column) are the same whichever parser is installed."""
    if _FAST_COMPOSER is not None:
        try:
            return yaml.compose(text, Loader=_FAST_COMPOSER)
        except Exception:  # a YAML error, or text libyaml cannot encode: let the pure-Python parser decide
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)

NODES_PER_BYTE = 2
"""Cap on the values built from a file, per byte of it, aliases counted each time they are used: a small file of
nested aliases ("billion laughs") would otherwise expand without bound. Every value written out takes at least
one byte, so only alias expansion can reach the cap."""


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document and the line (1-based) of every field path in it."""

    data: Any
    lines: dict[Path, int]
    file: str

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)

    def problem(self, path: Path, message: str, hint: str | None = None) -> Problem:
        from wishstar.engine.spec.errors import format_path

        return Problem(self.file, self.line_of(path), format_path(path), message, hint)


class _Builder:
    def __init__(self, file: str, budget: int) -> None:
        self.file = file
        self.lines: dict[Path, int] = {}
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")
        self._budget = budget

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._budget -= 1
        if self._budget < 0:
            raise InputTooLarge(f"{self.file}: aliases expand to more values than the file's size allows "
                                "(hint: write the values out, or use a library task)")
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(self._at(key_node, path, "merge keys (<<) are not supported",
                                              "repeat the fields, or use a library task"))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(self._at(key_node, path, "keys must be plain strings"))
                continue
            key = str(key_node.value)
            child = (*path, key)
            if key in out:
                self.problems.append(self._at(key_node, child, f'duplicate key "{key}"',
                                              "each key may appear once; remove or rename one"))
                continue
            self.lines[child] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, child)
        return out

    def _at(self, node: yaml.Node, path: Path, message: str, hint: str | None = None) -> Problem:
        from wishstar.engine.spec.errors import format_path

        return Problem(self.file, node.start_mark.line + 1, format_path(path), message, hint)


def load_yaml(text: str | bytes, file: str, *, max_bytes: int = MAX_FILE_BYTES) -> YamlDocument:
    """Parse one YAML document; raise ``InputTooLarge`` or ``ValidationFailed`` with the line and column."""
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > max_bytes:
        raise InputTooLarge(f"{file}: {size} bytes is over the {max_bytes}-byte limit for pipeline and task "
                            "files (hint: split it into library tasks)")
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = f", column {mark.column + 1}" if mark else ""
        raise ValidationFailed([Problem(file, line, "<yaml>", f"YAML syntax error{col}: {exc.problem}",
                                        "check indentation and quoting around this line")]) from None
    except yaml.reader.ReaderError as exc:
        raise ValidationFailed([_unreadable(file, text, exc)]) from None
    except yaml.YAMLError as exc:
        raise ValidationFailed([Problem(file, None, "<yaml>", f"YAML error: {exc}")]) from None
    except RecursionError:
        raise ValidationFailed([_too_deep(file)]) from None
    if node is None:
        raise ValidationFailed([Problem(file, 1, "<root>", "the file is empty", "start with `name:`")])
    builder = _Builder(file, NODES_PER_BYTE * size + 100)
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise ValidationFailed([Problem(file, mark.line + 1 if mark else None, "<yaml>",
                                        f"YAML error: {exc.problem}")]) from None
    except RecursionError:
        raise ValidationFailed([_too_deep(file)]) from None
    if builder.problems:
        raise ValidationFailed(builder.problems)
    return YamlDocument(data, builder.lines, file)


def _unreadable(file: str, text: str | bytes, exc: yaml.reader.ReaderError) -> Problem:
    """A byte that is not UTF-8, or a character YAML does not allow, as one line naming its line."""
    before = text[: exc.position]
    line = (before.count(b"\n") if isinstance(before, bytes) else before.count("\n")) + 1
    if exc.encoding == "unicode":
        return Problem(file, line, "<yaml>", f"character U+{exc.character:04X} is not allowed in YAML",
                       "remove it, or write it as an escape in a double-quoted string")
    return Problem(file, line, "<yaml>", f"not UTF-8 text: byte 0x{exc.character:02x} cannot be decoded",
                   "save the file as UTF-8")


def _too_deep(file: str) -> Problem:
    return Problem(file, None, "<yaml>", "the document is nested too deeply",
                   "flatten the nested lists and mappings")
