"""Refuse a configuration file that could make a YAML loader run code.

exomir's configuration is data. ``yaml.safe_load`` never runs code, but the
workflow's configuration is also read by Snakemake's own loader (the
``configfile:`` directive), which hands YAML to YTE: a file with
``__use_yte__: true`` at the top is treated as a template whose ``?``
expressions are *evaluated as Python*, and that loader (PyYAML's FullLoader)
also resolves some ``!!python/...`` tags, which import modules.

:func:`config_code_issues` reads the raw text, before any of these loaders
sees it, and reports:

* any YAML tag (``!!python/name:...``, ``!!binary``, ``!custom``...): a
  configuration needs none, and some make loaders import or construct objects;
* the key ``__use_yte__`` anywhere, and any other ``__name__`` key (the form
  loaders and template engines use for directives);
* template syntax in keys or values that some engine would evaluate: YTE's
  ``?`` expressions and ``?if``/``?for`` keys, Jinja's ``{{ }}`` and
  ``{% %}``.

The Snakefile calls :func:`refuse_config_code` on ``config/config.yaml``
before its ``configfile:`` directive, and :func:`exomir.config.load_config`
(``exomir validate``) runs the same checks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from exomir.errors import Issue, ValidationError

__all__ = ["config_code_issues", "refuse_config_code"]

_DUNDER = re.compile(r"^__\w+__$")
_JINJA = re.compile(r"\{\{|\{%|%\}|\}\}")


def _walk(node: Any, where: str = "") -> Iterator[tuple[str, Any, bool]]:
    """Yield (path, item, is_key) for every key and scalar value."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            yield path, key, True
            yield from _walk(value, path)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}[{i}]")
    else:
        yield where, node, False


def _template_problem(item: Any, is_key: bool) -> str | None:
    if not isinstance(item, str):
        return None
    if is_key and _DUNDER.match(item):
        if item == "__use_yte__":
            return (
                "'__use_yte__' turns the file into a YTE template whose expressions "
                "are run as Python code; remove it (the configuration is data only)"
            )
        return f"'{item}' looks like a loader or template directive; remove it"
    text = item.strip()
    if text.startswith("?"):
        return (
            f"'{item}' is YTE template syntax (an expression run as Python code); "
            "write the value itself"
        )
    if _JINJA.search(text):
        return f"'{item}' holds template syntax ({{{{ }}}} or {{% %}}); write the value"
    return None


def config_code_issues(
    path: str | os.PathLike[str], label: str | None = None
) -> list[Issue]:
    """Find everything in a configuration file that a loader could execute.

    Parameters
    ----------
    path
        The YAML (or JSON) configuration file.
    label
        Name used in messages (default ``path``).

    Returns
    -------
    list[Issue]
        One issue per tag, directive key or template expression, with its line
        where known; an empty list for a plain data file. A missing file or
        invalid YAML is left to the normal loader (and reported there).
    """
    from exomir.tables import decode_issue

    p = Path(path)
    name = label or str(path)
    if not p.is_file():
        return []
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [decode_issue(p, name, exc)]
    issues: list[Issue] = []
    try:
        for token in yaml.scan(text):
            if isinstance(token, yaml.TagToken):
                handle, suffix = token.value
                tag = f"{handle or ''}{suffix}"
                issues.append(
                    Issue(
                        name,
                        f"YAML tag '{tag}' is not allowed: tags make some loaders "
                        "construct objects or import code, and the configuration "
                        "is plain data; remove the tag",
                        line=token.start_mark.line + 1,
                    )
                )
    except yaml.YAMLError:
        return issues  # the loader reports the syntax error with its position
    if issues:
        return issues
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    for where, item, is_key in _walk(data):
        problem = _template_problem(item, is_key)
        if problem:
            issues.append(Issue(name, problem, column=where))
    return issues


def refuse_config_code(path: str | os.PathLike[str], label: str | None = None) -> None:
    """Raise if a configuration file holds anything a loader could execute.

    Parameters
    ----------
    path
        The configuration file.
    label
        Name used in messages.

    Raises
    ------
    ValidationError
        Listing every tag, directive key and template expression found.
    """
    issues = config_code_issues(path, label)
    if issues:
        raise ValidationError(issues)
