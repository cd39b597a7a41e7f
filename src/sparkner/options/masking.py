"""The masking options, declared once (as `settings.OPTIONS` declares the engine's): which entity
groups to mask and how, in Presidio's operator form. `masking.Masker` carries them out; the job's
flags, the ML stage's params and the README come from these declarations.

Pure data: an operator may name where its key is (`key_env`, `key_file`), never hold the key; the
key is read when a `Masker` is made, on the driver.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from sparkner.options.settings import Option, comma_list, option

DEFAULT = "DEFAULT"  # the operator of every label without its own, as in Presidio
# Presidio's operators, and what sparkner adds to two of them: where the key comes from.
OPERATORS = ("replace", "redact", "mask", "hash", "encrypt", "keep")
KEYED = ("hash", "encrypt")
KEY_SOURCES = ("key_env", "key_file")
OPERATOR_PARAMETERS = {
    "replace": ("new_value",),
    "redact": (),
    "mask": ("masking_char", "chars_to_mask", "from_end"),
    "hash": ("hash_type", *KEY_SOURCES),
    "encrypt": KEY_SOURCES,
    "keep": (),
}


def parse_mask_labels(value: Any) -> tuple[str, ...] | None:
    """`None`: every entity group the model finds; else the groups to mask (a list, or "PER,ORG")."""
    if value is None:
        return None
    labels = comma_list(value) if isinstance(value, str) else value
    if not isinstance(labels, Sequence) or not all(isinstance(label, str) and label for label in labels):
        raise ValueError(f"mask labels must be a list of entity groups such as ['PER', 'ORG'], got {value!r}")
    return tuple(labels)


def parse_operators(value: Any) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    """A label (or "DEFAULT") -> operator mapping in Presidio's form (`{"type": "mask", "masking_char":
    "*", "chars_to_mask": 4}`), or its JSON text; kept as sorted tuples, so settings stay hashable."""
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"mask operators are not valid JSON: {error}") from None
    if not isinstance(value, Mapping):
        raise ValueError(f'mask operators must map a label or "DEFAULT" to an operator, got {value!r}')
    parsed = []
    for label, operator in value.items():
        if not isinstance(operator, Mapping) or operator.get("type") not in OPERATORS:
            raise ValueError(
                f"mask operator for {label!r} must be an object whose type is one of {', '.join(OPERATORS)}, "
                f'such as {{"type": "replace", "new_value": "<{label}>"}}; got {operator!r}'
            )
        kind = operator["type"]
        unknown = sorted(set(operator) - {"type", *OPERATOR_PARAMETERS[kind]})
        if unknown:
            raise ValueError(
                f"mask operator {kind!r} for {label!r} takes {', '.join(OPERATOR_PARAMETERS[kind]) or 'no parameters'}"
                f"; not {', '.join(unknown)}"
                + (
                    "; give the key as key_env or key_file, never in the options"
                    if {"key", "salt"} & set(unknown)
                    else ""
                )
            )
        sources = [name for name in KEY_SOURCES if name in operator]
        if kind in KEYED and len(sources) != 1:
            raise ValueError(
                f"mask operator {kind!r} for {label!r} needs its key from one place: key_env (an environment "
                "variable's name) or key_file (a file's path)"
            )
        parsed.append((str(label), tuple(sorted(operator.items()))))
    return tuple(sorted(parsed))


@dataclass(frozen=True)
class MaskSettings:
    """What masking does; validated, picklable, hashable (no key in it, only where keys are)."""

    mask_labels: tuple[str, ...] | None = option(
        None,
        parse_mask_labels,
        "the entity groups to mask (default: every group the model finds)",
        "mask",
        cli_type=comma_list,
    )
    mask_operators: tuple = option(
        None,
        parse_operators,
        'how each label is masked, in Presidio\'s operator form: a label or "DEFAULT" mapped to `{"type": ...}` with '
        "`replace` (`new_value`; default `<LABEL>`), `redact`, `mask` (`masking_char`, `chars_to_mask`, "
        "`from_end`), `hash` (keyed: the same text gives the same token under one key), `encrypt` (reversible "
        "with `sparkner.unmask`) or `keep`; `hash` and `encrypt` read their key from `key_env` or `key_file`, "
        "never from the options. The job reads them from a JSON or YAML file",
        "mask",
    )

    def operators(self) -> dict[str, dict[str, Any]]:
        """The operators as Presidio's mapping form again."""
        return {label: dict(items) for label, items in self.mask_operators}


MASK_OPTIONS: dict[str, Option] = {
    f.name: replace(f.metadata["option"], name=f.name) for f in fields(MaskSettings) if "option" in f.metadata
}


def mask_settings(labels: Any = None, operators: Any = None) -> MaskSettings:
    """Validated masking settings (`labels`, `operators` as the Python functions take them)."""
    return MaskSettings(parse_mask_labels(labels), parse_operators(operators))
