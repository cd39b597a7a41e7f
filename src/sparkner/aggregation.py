"""From token probabilities to entities, by the rules of transformers' pipeline.

`TokenClassificationPipeline.postprocess` walks tokens one by one in Python.
Here the same rules run as numpy operations over every token of a batch at once;
Python touches only the entities that survive `ignore_labels` (to decode their
`word` with the tokenizer, exactly as the pipeline does). The rules reproduced:

- special tokens are dropped; an unknown token's word is the source text it covers;
- subwords: tokenizers with a `continuing_subword_prefix` (WordPiece) mark a token
  as a subword when its string and its text span differ in length; others fall
  back to "no space on either side of the token's start";
- `first` / `max` / `average` fuse each word's tokens into one prediction;
- grouping: a unit joins the previous group when its tag matches and it is not a
  `B-`; labels without a B-/I- prefix continue; the group's label is its first
  label after the first "-"; its score the mean of its units' scores;
- `ignore_labels` filters the entity (`none`) or the group label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sparkner.chunking import Selection, Windows
from sparkner.params import AggregationStrategy

SPACE = ord(" ")


def split_tag(label: str) -> tuple[str, str]:
    """('B'|'I', tag) as the pipeline's `get_tag`: unprefixed labels count as 'I'."""
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label


@dataclass
class Units:
    """Tokens (none, simple) or words (first, average, max), each with one label."""

    first_token: np.ndarray  # into the selected tokens
    last_token: np.ndarray
    sequence: np.ndarray
    label: np.ndarray
    score: np.ndarray
    start: np.ndarray
    end: np.ndarray


class Aggregator:
    """Label tables and tokenizer helpers prepared once per (tokenizer, parameters)."""

    def __init__(self, tokenizer: Any, labels: tuple[str, ...], strategy: AggregationStrategy, ignore_labels: tuple[str, ...]) -> None:
        self.tokenizer = tokenizer
        self.strategy = strategy
        self.labels = labels
        tags = [split_tag(label) for label in labels]
        tag_ids = {tag: i for i, tag in enumerate(dict.fromkeys(tag for _, tag in tags))}
        self.tag_id = np.array([tag_ids[tag] for _, tag in tags], dtype=np.int64)
        self.is_begin = np.array([bi == "B" for bi, _ in tags], dtype=bool)
        self.group_name = [label.split("-", 1)[-1] for label in labels]
        ignored = set(ignore_labels)
        self.ignored_entity = np.array([label in ignored for label in labels], dtype=bool)
        self.ignored_group = np.array([name in ignored for name in self.group_name], dtype=bool)
        self.unk_id = tokenizer.unk_token_id
        backend = getattr(tokenizer, "_tokenizer", None)
        self.word_aware = bool(backend and getattr(backend.model, "continuing_subword_prefix", None))
        self._tokens: list[str | None] | None = None
        self._token_lengths: np.ndarray | None = None
        self.tokens_to_string = _tokens_to_string(tokenizer)

    # -- subwords ---------------------------------------------------------------------------

    def _vocabulary_tokens(self) -> list[str | None]:
        """Every id's token string (`convert_ids_to_tokens` over the vocabulary), made once."""
        if self._tokens is None:
            self._tokens = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
        return self._tokens

    def _token_length_table(self) -> np.ndarray:
        if self._token_lengths is None:
            self._token_lengths = np.array([len(t) if t is not None else -1 for t in self._vocabulary_tokens()], dtype=np.int64)
        return self._token_lengths

    def is_subword(self, ids: np.ndarray, starts: np.ndarray, ends: np.ndarray, texts: list[str], token_text: np.ndarray) -> np.ndarray:
        if self.word_aware:
            table = self._token_length_table()
            in_table = ids < len(table)
            lengths = np.where(in_table, table[np.minimum(ids, len(table) - 1)], -1)
            if not in_table.all():  # ids added after the table was built
                for i in np.flatnonzero(~in_table):
                    lengths[i] = len(self.tokenizer.convert_ids_to_tokens(int(ids[i])))
            return lengths != (ends - starts)
        # Fallback heuristic: a token is a subword unless a space touches its start.
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        codepoints = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if len(codepoints) == 0:
            return np.zeros(len(ids), dtype=bool)
        base = np.concatenate(([0], np.cumsum(lengths)[:-1]))[token_text]
        previous_is_space = codepoints[np.clip(base + starts - 1, 0, len(codepoints) - 1)] == SPACE
        inside = starts < lengths[token_text]
        current_is_space = inside & (codepoints[np.clip(base + starts, 0, len(codepoints) - 1)] == SPACE)
        return (starts > 0) & ~previous_is_space & ~current_is_space

    # -- units ------------------------------------------------------------------------------

    def units(self, probs: np.ndarray, sequence: np.ndarray, is_new_word: np.ndarray | None, starts: np.ndarray, ends: np.ndarray) -> Units:
        """One label and score per token, or per word for first/average/max."""
        n = len(probs)
        if is_new_word is None:
            label = probs.argmax(axis=1)
            every = np.arange(n)
            return Units(every, every, sequence, label, probs[every, label], starts, ends)
        first = np.flatnonzero(is_new_word)
        last = np.append(first[1:], n) - 1
        if self.strategy is AggregationStrategy.FIRST:
            chosen = probs[first]
            label = chosen.argmax(axis=1)
            score = chosen[np.arange(len(first)), label]
        elif self.strategy is AggregationStrategy.MAX:
            token_max = probs.max(axis=1)
            word_of_token = np.cumsum(is_new_word) - 1
            word_max = np.maximum.reduceat(token_max, first)
            candidates = np.flatnonzero(token_max == word_max[word_of_token])
            _, first_candidate = np.unique(word_of_token[candidates], return_index=True)
            best = candidates[first_candidate]  # the first token reaching the word's maximum
            label = probs[best].argmax(axis=1)
            score = token_max[best]
        else:  # AVERAGE, NaN-aware like np.nanmean
            # float32 sums, row after row, as np.nanmean does on the pipeline's stacked scores.
            finite = ~np.isnan(probs)
            sums = np.add.reduceat(np.where(finite, probs, np.float32(0)), first, axis=0)
            counts = np.add.reduceat(finite.astype(np.int64), first, axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                average = (sums / counts).astype(np.float32)
            label = average.argmax(axis=1)
            score = average[np.arange(len(first)), label]
        return Units(first, last, sequence[first], label, score, starts[first], ends[last])

    # -- decoding words ---------------------------------------------------------------------

    def token_strings(self, ids: np.ndarray, starts: np.ndarray, ends: np.ndarray, texts: list[str], token_text: np.ndarray) -> list[str]:
        """Each token's string as the pipeline sees it: the vocabulary's, or for the
        unknown token the source text it covers."""
        vocabulary = self._vocabulary_tokens()
        ids_list = ids.tolist()
        if ids.size and int(ids.max()) >= len(vocabulary):  # ids added after the table was built
            strings = self.tokenizer.convert_ids_to_tokens(ids_list)
        else:
            strings = [vocabulary[i] for i in ids_list]
        if self.unk_id is not None:
            for i in np.flatnonzero(ids == self.unk_id).tolist():
                strings[i] = texts[token_text[i]][starts[i] : ends[i]]
        return strings

    # -- the whole postprocess --------------------------------------------------------------

    def entities(self, windows: Windows, selection: Selection, probs: np.ndarray, texts: list[str]) -> list[list[dict[str, Any]]]:
        """Entities per sequence of `selection`, each a dict with the task's keys."""
        token = selection.token
        ids = windows.input_ids[token]
        starts = windows.offsets[token, 0]
        ends = windows.offsets[token, 1]
        sequence = selection.sequence
        token_text = selection.sequence_text[sequence]
        results: list[list[dict[str, Any]]] = [[] for _ in range(len(selection.sequence_text))]
        if len(token) == 0:
            return results
        sequence_begins = np.ones(len(token), dtype=bool)
        sequence_begins[1:] = sequence[1:] != sequence[:-1]
        is_new_word = None
        if self.strategy.uses_words:
            is_subword = self.is_subword(ids, starts, ends, texts, token_text)
            if self.unk_id is not None:
                is_subword &= ids != self.unk_id
            is_new_word = sequence_begins | ~is_subword
        units = self.units(probs[token], sequence, is_new_word, starts, ends)
        strings = self.token_strings(ids, starts, ends, texts, token_text)
        # Python scalars in bulk: the loops below build dicts and nothing else.
        starts_list, ends_list, sequence_list = starts.tolist(), ends.tolist(), sequence.tolist()
        unit_first, unit_last = units.first_token.tolist(), units.last_token.tolist()

        if self.strategy is AggregationStrategy.NONE:
            index = selection.index.tolist()
            scores = units.score.tolist()
            for u in np.flatnonzero(~self.ignored_entity[units.label]).tolist():
                t = unit_first[u]
                results[sequence_list[t]].append(
                    {
                        "entity": self.labels[units.label[u]],
                        "score": scores[u],
                        "index": index[t],
                        "word": strings[t],
                        "start": starts_list[t],
                        "end": ends_list[t],
                    }
                )
            return results

        # Group adjacent units: a new group at each sequence start, B- label or tag change.
        label = units.label
        new_group = np.ones(len(label), dtype=bool)
        new_group[1:] = (units.sequence[1:] != units.sequence[:-1]) | self.is_begin[label[1:]] | (self.tag_id[label[1:]] != self.tag_id[label[:-1]])
        group_first = np.flatnonzero(new_group)
        group_last = np.append(group_first[1:], len(label)) - 1
        # A float32 mean, as the pipeline's np.nanmean over float32 scores; ties between
        # overlapping entities of different windows are then broken the same way.
        group_sum = np.add.reduceat(units.score.astype(np.float32), group_first)
        group_score = (group_sum / (group_last - group_first + 1)).astype(np.float32).tolist()
        group_label = label[group_first].tolist()
        first_units, last_units = group_first.tolist(), group_last.tolist()
        decode, uses_words = self.tokens_to_string, self.strategy.uses_words
        for g in np.flatnonzero(~self.ignored_group[label[group_first]]).tolist():
            first_unit, last_unit = first_units[g], last_units[g]
            first, last = unit_first[first_unit], unit_last[last_unit]
            if uses_words:  # each word's tokens joined, then the words, as the pipeline does
                word = decode([decode(strings[unit_first[u] : unit_last[u] + 1]) for u in range(first_unit, last_unit + 1)])
            else:
                word = decode(strings[first : last + 1])
            results[sequence_list[first]].append(
                {
                    "entity_group": self.group_name[group_label[g]],
                    "score": group_score[g],
                    "word": word,
                    "start": starts_list[first],
                    "end": ends_list[last],
                }
            )
        return results


def _tokens_to_string(tokenizer: Any) -> Any:
    """`tokenizer.convert_tokens_to_string`, or the backend decoder it calls when the
    tokenizer class keeps the fast tokenizers' own version (one call per entity)."""
    from transformers import PreTrainedTokenizerFast

    if type(tokenizer).convert_tokens_to_string is PreTrainedTokenizerFast.convert_tokens_to_string:
        decoder = tokenizer.backend_tokenizer.decoder
        return decoder.decode if decoder is not None else " ".join
    return tokenizer.convert_tokens_to_string


def merge_overlapping(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pipeline's `aggregate_overlapping_entities` for a text split into windows.

    Sorted by start; of two overlapping entities the longer wins, then the higher score.
    """
    if not entities:
        return entities
    entities = sorted(entities, key=lambda entity: entity["start"])
    merged = []
    previous = entities[0]
    for entity in entities:
        if previous["start"] <= entity["start"] < previous["end"]:
            length = entity["end"] - entity["start"]
            previous_length = previous["end"] - previous["start"]
            if length > previous_length or (length == previous_length and entity["score"] > previous["score"]):
                previous = entity
        else:
            merged.append(previous)
            previous = entity
    merged.append(previous)
    return merged
