"""Masking personal data: a text and its entities in, the text with the chosen entities replaced out,
with Microsoft Presidio's anonymizer as the operator engine (`presidio-anonymizer`).

What sparkner adds around Presidio:
- which entities: the groups asked for (`mask_labels`), entities below `min_score` already gone;
- overlapping entities (from `sparkner.mask` over entities made elsewhere; sparkner's own grouped
  entities never overlap): masked as one span covering them all, so no part of either shows, and
  labelled as the longest of them (then the highest score);
- keys: `hash` is Presidio's salted hash with the key as its salt (sha256 of the text and the key),
  so the same text gets the same token in every row, partition and run, and nobody without the key
  can recompute it; `encrypt` is Presidio's AES encryption, written as `<ENC:LABEL:ciphertext>` so
  `unmask` can find and decrypt it. Keys are read from an environment variable or a file when the
  `Masker` is made (on the driver) and kept in a `Secret`, which never prints.

Offsets are code points (Python's and Spark's string positions); a null text stays null, an empty
text stays empty.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sparkner.options.masking import DEFAULT, KEYED, MaskSettings

ENCRYPTED = re.compile(r"<ENC:([^:<>\s]+):([A-Za-z0-9+/=_-]+)>")


class Secret:
    """A key that is carried but never shown: its repr and str say nothing of it."""

    def __init__(self, value: str, source: str) -> None:
        self._value, self.source = value, source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__


def read_key(operator: dict[str, Any]) -> Secret:
    """A keyed operator's key, from the environment variable `key_env` or the file `key_file`."""
    if "key_env" in operator:
        name = operator["key_env"]
        value = os.environ.get(name, "")
        if not value:
            raise ValueError(f"mask key: the environment variable {name} is not set (or empty)")
        return Secret(value, f"${name}")
    path = Path(operator["key_file"]).expanduser()
    if not path.is_file():
        raise ValueError(f"mask key: the file {str(path)!r} does not exist")
    value = path.read_text().strip()
    if not value:
        raise ValueError(f"mask key: the file {str(path)!r} is empty")
    return Secret(value, str(path))


def united(entities: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entities sorted by start, each run of overlapping ones made one entity over their union, with the
    label and score of the longest (then the highest scoring) of the run."""
    merged: list[dict[str, Any]] = []
    for entity in sorted(entities, key=lambda e: (e["start"], -e["end"])):
        if merged and entity["start"] < merged[-1]["end"]:
            run = merged[-1]
            best = max((run["best"], entity), key=lambda e: (e["end"] - e["start"], e["score"]))
            run.update(end=max(run["end"], entity["end"]), best=best)
        else:
            merged.append({"start": entity["start"], "end": entity["end"], "best": entity})
    return [{**run["best"], "start": run["start"], "end": run["end"]} for run in merged]


def entity_label(entity: dict[str, Any]) -> str:
    """An entity's group: `entity_group`, or `entity` without its B-/I- prefix (`none`)."""
    label = entity.get("entity_group") or entity.get("label") or entity["entity"]
    return label.split("-", 1)[1] if label[:2] in ("B-", "I-", "E-", "S-") else label


class Masker:
    """Masks texts given their entities; made once on the driver, shipped to Spark's workers."""

    def __init__(self, settings: MaskSettings, min_score: float | None = None) -> None:
        from presidio_anonymizer.operators import OperatorsFactory, OperatorType

        self.settings, self.min_score = settings, min_score
        self.labels = None if settings.mask_labels is None else frozenset(settings.mask_labels)
        self.operators = settings.operators()
        self.keys: dict[str, Secret] = {}
        factory = OperatorsFactory()
        for label, operator in self.operators.items():
            if operator["type"] in KEYED:
                self.keys[label] = read_key(operator)
            presidio = factory.create_operator_class(operator["type"], OperatorType.Anonymize)
            try:  # what Presidio would refuse on a worker, row after row, is refused here, on the driver
                presidio.validate(self._parameters(label, operator))
            except Exception as error:  # noqa: BLE001 - Presidio's InvalidParamError and ValueError
                raise ValueError(f"mask operator {operator['type']!r} for {label!r}: {error}") from None
        self._engine: Any = None
        self._configs: dict[str, Any] = {}  # Presidio's operator config per label, made on first use

    def __getstate__(self) -> dict[str, Any]:
        # Presidio's engine and the operator configs (closures) are made again in each worker.
        return {**self.__dict__, "_engine": None, "_configs": {}}

    def _parameters(self, label: str, operator: dict[str, Any]) -> dict[str, Any]:
        """Presidio's parameters of `operator`, the key put where Presidio expects it."""
        parameters = {name: value for name, value in operator.items() if name not in ("type", "key_env", "key_file")}
        if operator["type"] == "hash":
            parameters["salt"] = self.keys[label].reveal()
        elif operator["type"] == "encrypt":
            parameters["key"] = self.keys[label].reveal()
        return parameters

    def _config(self, label: str) -> Any:
        """Presidio's `OperatorConfig` for `label` (its own operator, else DEFAULT, else `<LABEL>`)."""
        if label not in self._configs:
            self._configs[label] = self._make_config(label)
        return self._configs[label]

    def _make_config(self, label: str) -> Any:
        from presidio_anonymizer.entities import OperatorConfig
        from presidio_anonymizer.operators import Encrypt

        key = label if label in self.operators else DEFAULT
        operator = self.operators.get(key, {"type": "replace"})
        if operator["type"] == "encrypt":
            parameters = self._parameters(key, operator)
            return OperatorConfig(
                "custom", {"lambda": lambda text: f"<ENC:{label}:{Encrypt().operate(text, parameters)}>"}
            )
        return OperatorConfig(operator["type"], self._parameters(key, operator))

    def chosen(self, entities: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The entities to mask: in the labels asked for, at `min_score` or above, overlaps resolved."""
        kept = [
            entity
            for entity in entities
            if (self.labels is None or entity_label(entity) in self.labels)
            and (self.min_score is None or entity["score"] >= self.min_score)
            and entity["start"] < entity["end"]
        ]
        return united(kept)

    def mask(self, text: str | None, entities: Iterable[dict[str, Any]] | None) -> str | None:
        """`text` with its chosen entities replaced by their operators' output."""
        if not text:
            return text
        chosen = self.chosen(entities or [])
        if not chosen:
            return text
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import RecognizerResult

        if self._engine is None:
            self._engine = AnonymizerEngine()
        results = [RecognizerResult(entity_label(e), int(e["start"]), int(e["end"]), float(e["score"])) for e in chosen]
        operators = {label: self._config(label) for label in {result.entity_type for result in results}}
        return self._engine.anonymize(text, results, operators).text


def unmask(text: str | None, key: Secret) -> str | None:
    """`text` with every `<ENC:LABEL:ciphertext>` that `key` opens decrypted back to the original."""
    if not text:
        return text
    from presidio_anonymizer.operators import Decrypt

    def decrypt(match: re.Match) -> str:
        try:
            return Decrypt().operate(match.group(2), {"key": key.reveal()})
        except Exception:  # noqa: BLE001 - not ours, or another key's: left as it is
            return match.group(0)

    return ENCRYPTED.sub(decrypt, text)
