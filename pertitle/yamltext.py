"""YAML as people write it: PyYAML follows YAML 1.1, which reads `1e3` and `2.5E3` as text
(its floats need a dot and a signed exponent); every YAML file pertitle reads goes through here,
so a constraint, a ladder or a manifest takes them as the numbers they are (YAML 1.2's rule)."""

from __future__ import annotations

import re
from typing import Any

import yaml

# YAML 1.2's core-schema float, plus PyYAML's own forms (underscores, sexagesimal are not kept).
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2's floats."""


# Replace SafeLoader's float resolver on this subclass only (a copy: SafeLoader keeps its own).
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """Parse one YAML document safely (no tags that run code), numbers read as YAML 1.2 reads them.

    Raises:
        yaml.YAMLError: the text is not YAML.
    """
    return yaml.load(text, Loader=_Loader)
