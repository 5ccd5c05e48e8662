"""YAML documents that remember where each value was written, so content errors can name
file:line:field. Used for lesson front matter and lab definitions."""

from dataclasses import dataclass
from pathlib import Path

import yaml

# libyaml's parser and emitter where PyYAML was built with it: the same documents, about ten
# times faster (the course's 71 labs and lessons are read and written on every load).
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass
class ContentError(Exception):
    path: str
    line: int
    field: str
    message: str

    def __str__(self):
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class Doc:
    """A parsed YAML mapping plus the line of every key (1-based, in the file)."""

    def __init__(self, path: str, text: str, line_offset: int = 0):
        self.path = path
        self.lines: dict[str, int] = {}
        try:
            loader = SafeLoader(text)
            try:
                node = loader.get_single_node()
                self.data = loader.construct_document(node) if node is not None else {}
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = (mark.line + 1 + line_offset) if mark else 1 + line_offset
            raise ContentError(path, line, "(yaml)", f"{e.problem or e}") from None
        if not isinstance(self.data, dict):
            raise ContentError(path, 1 + line_offset, "(document)", "must be a mapping of keys to values")
        self._index(node, "", line_offset)

    def _index(self, node, prefix: str, offset: int) -> None:
        self.lines.setdefault(prefix, node.start_mark.line + 1 + offset)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{prefix}.{key.value}" if prefix else str(key.value)
                self.lines[name] = key.start_mark.line + 1 + offset
                self._index(value, name, offset)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index(item, f"{prefix}[{i}]", offset)

    def line(self, field: str) -> int:
        """The line of field, or of its nearest written parent."""
        while field and field not in self.lines:
            field = field.rpartition(".")[0] if "." in field else ""
        return self.lines.get(field, 1)

    def error(self, field: str, message: str) -> ContentError:
        return ContentError(self.path, self.line(field), field, message)


class Fields:
    """Typed access to one mapping of a Doc, collecting errors instead of stopping at the first."""

    def __init__(self, doc: Doc, data: dict, prefix: str, errors: list[ContentError]):
        self.doc, self.data, self.prefix, self.errors = doc, data, prefix, errors

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def reject_unknown(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                self.errors.append(
                    self.doc.error(self.name(str(key)), f"unknown key (allowed: {', '.join(sorted(allowed))})")
                )

    def get(self, key: str, kind: type | tuple, required: bool = True, default=None):
        if key not in self.data or self.data[key] is None:
            if required:
                self.errors.append(self.doc.error(self.name(key) if self.prefix else key, "required"))
            return default
        value = self.data[key]
        if kind is str and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.errors.append(self.doc.error(self.name(key), f"must be a {names}, not {type(value).__name__}"))
            return default
        if isinstance(value, str) and required and not value.strip():
            self.errors.append(self.doc.error(self.name(key), "must not be empty"))
            return default
        return value


# --- writing: the same YAML back, as people write it --------------------------------------
class BlockDumper(SafeDumper):
    """Multi-line strings (scripts, Markdown) as literal blocks, the way people write them."""


def _str(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


BlockDumper.add_representer(str, _str)


def dump(data) -> str:
    return yaml.dump(data, Dumper=BlockDumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
