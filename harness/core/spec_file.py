"""Reading a spec file into plain data: YAML or JSON text through the guarded edge, nothing from it executed.

The file is at most guard.LIMITS["spec"] bytes of UTF-8 (guard.read_text). JSON goes through guard.parse_json.
YAML goes through a SafeLoader that first composes the node graph and refuses, in one line with a line and a
column, what a spec never holds: a tag other than the plain ones (!!binary, !!set, !!timestamp, !!python/...),
a duplicate key, nesting deeper than guard.MAX_DEPTH, an alias inside its own anchor, and more than MAX_VALUES
values once aliases are expanded (a "billion laughs" file is a few lines that expand to 10^9 values). Only then
is the graph turned into Python data. Floats are read as YAML 1.2 reads them (1e-3 is a number; PyYAML's YAML 1.1
rules make it the string '1e-3'), and dates stay strings.
"""

import os
import re
from pathlib import Path

import yaml

from harness.core import guard
from harness.core.errors import SpecError

FIELD = "spec"
# Values in a spec, aliases expanded: a real spec has a few hundred, 1,000 layers some 25,000. PyYAML's pure
# Python reader takes about a second per 30,000 values, so this also bounds the time a file can take.
MAX_VALUES = 50_000
_YAML = "tag:yaml.org,2002:"
PLAIN_TAGS = {_YAML + name for name in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}
# YAML 1.2's floats (exponent without a dot, a leading dot, a sign before the dot), and PyYAML's other forms.
FLOAT = re.compile(r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                         |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                         |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
                         |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                         |[-+]?\.(?:inf|Inf|INF)
                         |\.(?:nan|NaN|NAN))$""", re.X)


class Refused(yaml.MarkedYAMLError):
    """Valid YAML that is no spec: the problem, and the mark of the node it is about."""

    def __init__(self, problem: str, mark):
        super().__init__(problem=problem, problem_mark=mark)


def _resolvers() -> dict:
    """SafeLoader's implicit resolvers without the YAML 1.1 float and the timestamp (a bare 2020-01-01 is text)."""
    dropped = (_YAML + "float", _YAML + "timestamp")
    return {first: [(tag, pattern) for tag, pattern in resolvers if tag not in dropped]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


class Loader(yaml.SafeLoader):
    """SafeLoader that counts and bounds while composing, so a deep or huge file stops early."""

    yaml_implicit_resolvers = _resolvers()

    def __init__(self, text: str):
        super().__init__(text)
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent, index):
        mark = self.peek_event().start_mark
        self._composed += 1  # an alias too: a list of 10^6 aliases takes as long to read as 10^6 values
        if self._composed > MAX_VALUES:
            raise Refused(f"expected at most {MAX_VALUES:,} values; received more", mark)
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        container = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        self._depth += container
        try:
            if self._depth > guard.MAX_DEPTH:
                raise Refused(f"expected at most {guard.MAX_DEPTH} levels of nesting; received more", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= container

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except ValueError as error:  # an integer past Python's 4,300-digit limit
            text = node.value if isinstance(node, yaml.ScalarNode) else node.tag
            received = f"{text[:40]!r}..." if len(text) > 40 else repr(text)
            reason = str(error).split(";")[0]
            raise Refused(f"expected a value Python can read; received {received} ({reason})",
                          node.start_mark) from None


Loader.add_implicit_resolver(_YAML + "float", FLOAT, list("-+0123456789."))


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return node.value if isinstance(node, yaml.SequenceNode) else []


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag


def _check_keys(node: yaml.MappingNode, loader: Loader) -> None:
    """Each key of a mapping once, and only plain keys (a merge `<<` aside, whose keys the mapping may override)."""
    seen = {}
    for key_node, _ in node.value:
        if key_node.tag == _YAML + "merge":
            continue
        _check_tag(key_node)
        if not isinstance(key_node, yaml.ScalarNode):
            raise Refused(f"expected a plain key (a string or a number); received a "
                          f"{'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'}", key_node.start_mark)
        key = loader.construct_object(key_node)
        if key in seen:
            raise Refused(f"expected each key once in a mapping; received {key!r} again (first at line "
                          f"{seen[key].line + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark


def _check_tag(node) -> None:
    if node.tag not in PLAIN_TAGS:
        raise Refused(f"expected plain values (strings, numbers, booleans, null, lists, mappings); received the "
                      f"tag {_short_tag(node.tag)}", node.start_mark)


def _check_node(node, loader: Loader) -> None:
    _check_tag(node)
    if isinstance(node, yaml.MappingNode):
        _check_keys(node, loader)


def check_graph(root, loader: Loader) -> None:
    """Every distinct node checked once; its size and depth with aliases expanded, memoized over node ids (a
    shared subtree counts as often as it appears), without recursion. An alias inside its own anchor is a cycle."""
    size, depth, open_nodes = {}, {}, set()
    stack = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        if closing:
            open_nodes.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(child)] for child in children)
            depth[key] = (not isinstance(node, yaml.ScalarNode)) + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_VALUES:
                raise Refused(f"expected at most {MAX_VALUES:,} values once aliases are expanded; received "
                              f"{size[key]:,} or more", node.start_mark)
            if depth[key] > guard.MAX_DEPTH:
                raise Refused(f"expected at most {guard.MAX_DEPTH} levels of nesting once aliases are expanded; "
                              f"received {depth[key]}", node.start_mark)
        elif key in open_nodes:
            raise Refused("expected an alias to a finished value; received an alias inside its own anchor "
                          "(a value that contains itself)", node.start_mark)
        elif key not in size:
            _check_node(node, loader)
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


def _describe(error: yaml.YAMLError, name: str) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    if isinstance(error, Refused):
        return f"{name}{where}: {error.problem}"
    parts = [getattr(error, "context", None), getattr(error, "problem", None)]
    problem = ", ".join(part for part in parts if part) or str(error).splitlines()[0]
    return f"{name} is not valid YAML{where}: {' '.join(problem.split())}"


def parse_yaml(text: str, name: str, field: str = FIELD):
    """Plain data from YAML text through every check above; one SpecError line naming `field` on failure. Also
    for YAML values given elsewhere (a command-line value), so that 1e-3 is the same number everywhere."""
    loader = None
    try:
        loader = Loader(text)  # the reader refuses control characters here
        root = loader.get_single_node()
        if root is None:
            return None
        check_graph(root, loader)
        return loader.construct_document(root)
    except yaml.YAMLError as error:
        raise SpecError(field, _describe(error, name)) from None
    except RecursionError:
        raise SpecError(field, f"{name} nests too deeply; at most {guard.MAX_DEPTH} levels are allowed") from None
    finally:
        if loader is not None:
            loader.dispose()


def _kind(data) -> str:
    return {type(None): "an empty file", list: "a list", str: "a single string"}.get(type(data),
                                                                                      type(data).__name__)


def read_mapping(path) -> dict:
    """The top-level mapping of a YAML or JSON spec file (JSON if the name ends in .json)."""
    if not isinstance(path, (str, os.PathLike)):
        raise SpecError(FIELD, f"expected a path to a YAML or JSON file; received a {type(path).__name__}")
    path = Path(path)
    if not os.path.lexists(path):
        raise SpecError("", f"spec file not found: {path}")
    text = guard.read_text(path, FIELD, "spec")
    data = guard.parse_json(text, path.name, FIELD) if path.suffix == ".json" else parse_yaml(text, path.name)
    if not isinstance(data, dict):
        raise SpecError(FIELD, f"{path.name} must hold a mapping at the top level; received {_kind(data)}")
    return data
