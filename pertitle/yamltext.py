"""YAML as YAML 1.2 reads it. PyYAML follows YAML 1.1, where `1e3` is text (its floats need a dot
and a signed exponent), `0100` is 64 (octal), `no` and `off` are false and `1:40` is 100
(base 60): a manifest's CRFs `[024, 032]` became 20 and 26 with no word. Every YAML file pertitle
reads goes through here: the core schema of YAML 1.2 (`true`/`false`, decimal integers, `0o` and
`0x`, floats with an exponent or a dot), and a key given twice in one mapping is an error rather
than the last one silently winning (a manifest's second `titles:` dropped the first list)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
# YAML 1.2's typed scalars, with the first characters PyYAML looks them up by.
_RESOLVERS = (
    ("tag:yaml.org,2002:bool", _BOOL, "tTfF"),
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+0123456789."),
)
# YAML 1.1's timestamps go too: YAML 1.2 has none, and a name like 2024-01-01 stays text.
_REPLACED = (*(tag for tag, _, _ in _RESOLVERS), "tag:yaml.org,2002:timestamp")


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2's core schema and no duplicate keys."""


# Replace SafeLoader's resolvers for these tags on this subclass only (SafeLoader keeps its own).
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _rx, _firsts in _RESOLVERS:
    _Loader.add_implicit_resolver(_tag, _rx, list(_firsts))


# Past any count or setting, and past what a float holds (a 400-digit integer made every reader's
# float() raise OverflowError): such an integer is a syntax error with its place.
MAX_INTEGER = 10**18


def too_large(value: int, text: str) -> str | None:
    """Why an integer read as `text` cannot be taken (past MAX_INTEGER), else None: the one bound
    of YAML's integers here and JSON's (`serialize.read_document`)."""
    return (
        f"an integer of {len(text)} digits is too large for any value here"
        if abs(value) > MAX_INTEGER
        else None
    )


def _int(loader: _Loader, node: Node) -> int:
    assert isinstance(node, ScalarNode)
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        value = int(text[2:], 8)
    elif text.startswith("0x"):
        value = int(text[2:], 16)
    else:
        value = int(text, 10)  # a leading zero is no octal in YAML 1.2: 0100 is 100
    problem = too_large(value, text)
    if problem:
        raise ConstructorError(None, None, problem, node.start_mark)
    return value


def _float(loader: _Loader, node: Node) -> float:
    assert isinstance(node, ScalarNode)
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith(("inf", "nan")):
        return float(text.replace(".", ""))
    return float(text)


def _mapping(loader: _Loader, node: Node) -> dict[Any, Any]:
    assert isinstance(node, MappingNode)
    seen: dict[Any, Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: its keys may be overridden
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            twice = key in seen
        except TypeError:  # an unhashable key: construct_mapping says so
            break
        if twice:
            raise ConstructorError(
                None, None, f"the key {key!r} is given twice in one mapping", key_node.start_mark
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Loader.add_constructor("tag:yaml.org,2002:float", _float)
_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)


def load_yaml(text: str) -> Any:
    """Parse one YAML document safely (no tags that run code), as YAML 1.2 reads it.

    Raises:
        yaml.YAMLError: the text is not YAML, or a mapping gives a key twice.
    """
    return yaml.load(text, Loader=_Loader)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, in one line: 'at line 2, column 1: found character '\\t' that cannot start
    any token' (PyYAML's first line only says what it was parsing)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0] or type(exc).__name__
    if "'\\t'" in problem:
        problem += " (YAML indents with spaces, not tabs)"
    problem = " ".join(problem.split())
    return (
        f"at line {mark.line + 1}, column {mark.column + 1}: {problem}"
        if mark is not None
        else f"({problem})"
    )


class _Dumper(yaml.SafeDumper):
    """SafeDumper that also quotes text YAML 1.2 would read as something else (`1e3`, `0o17`), as
    it already quotes what YAML 1.1 would (`no`, `0100`): the file reads back the same either way."""


_Dumper.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
}
for _tag, _rx, _firsts in _RESOLVERS:
    _Dumper.add_implicit_resolver(_tag, _rx, list(_firsts))


def dump_yaml(doc: Any) -> str:
    """`doc` as block YAML, keys in their order, that `load_yaml` and YAML 1.1 readers both read
    back as `doc`."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)
