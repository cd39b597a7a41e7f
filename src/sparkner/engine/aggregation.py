"""From token probabilities to entities: one function per rule, numpy over a whole batch.

`TokenClassificationPipeline.postprocess` walks tokens one by one in Python. Here
the same rules run as numpy operations over every token of a batch at once; Python
touches only the entities that survive `ignore_labels`. The stages, in order:

1. `token_view`: the selected tokens (special tokens dropped) and their offsets;
2. word boundaries, either
   - `pipeline` (`pipeline_units`): the pipeline's rules. Tokenizers with a
     `continuing_subword_prefix` (WordPiece) mark a token as a subword when its
     string and its text span differ in length; others fall back to "no space on
     either side of the token's start"; an unknown token is never a subword; or
   - `text` (`text_units`): words come from the text itself (`words.py`), the same
     way for every tokenizer. Token offsets are trimmed to their non-space
     characters (a token of only whitespace is dropped) and each token belongs to
     the words its characters overlap;
3. `label_units`: one label and score per token (`none`, `simple`) or per word
   (`first`: the word's first token, `average`: the mean over its tokens, `max`: its
   most confident token);
4. `group_units`: a unit joins the previous group when its tag matches and it is
   not a `B-` (labels without a B-/I- prefix continue); the group's label is its
   first label after the first "-", its score the mean of its units' scores;
5. `ignore_labels` filters the entity (`none`) or the group label, and the
   survivors become dicts: `word` decoded by the tokenizer as the pipeline does
   (`pipeline`), or the source text `text[start:end]` (`text`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sparkner.engine import words
from sparkner.engine.results import Entity
from sparkner.engine.windows import Selection, Windows
from sparkner.options.settings import AggregationStrategy, WordBoundaries

SPACE = ord(" ")


def split_tag(label: str) -> tuple[str, str]:
    """('B'|'I', tag) as the pipeline's `get_tag`: unprefixed labels count as 'I'."""
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label


@dataclass
class Tokens:
    """The selected tokens of a batch, in sequence order."""

    ids: np.ndarray
    start: np.ndarray  # character offsets into the token's text
    end: np.ndarray
    sequence: np.ndarray  # sequence of each token (non-decreasing)
    text: np.ndarray  # text of each token
    index: np.ndarray  # the token's `index` for `none`
    position: np.ndarray  # the token's row in the windows' (n_tokens, n_labels) probabilities

    def take(self, keep: np.ndarray) -> Tokens:
        return Tokens(*(getattr(self, name)[keep] for name in self.__dataclass_fields__))


@dataclass
class Units:
    """Tokens (none, simple) or words (first, average, max), each with one label.

    A unit's members are positions into `member_token` (`first_member` and
    `last_member` inclusive); in pipeline mode a word's members are its consecutive
    tokens, in text mode the tokens that overlap the word.
    """

    member_token: np.ndarray
    first_member: np.ndarray
    last_member: np.ndarray
    sequence: np.ndarray
    start: np.ndarray
    end: np.ndarray
    continues: np.ndarray  # True when the unit's first token began in an earlier unit
    label: np.ndarray | None = None
    score: np.ndarray | None = None

    @property
    def first_token(self) -> np.ndarray:
        return self.member_token[self.first_member]

    @property
    def last_token(self) -> np.ndarray:
        return self.member_token[self.last_member]


def token_view(windows: Windows, selection: Selection) -> Tokens:
    token = selection.token
    return Tokens(
        ids=windows.input_ids[token],
        start=windows.offsets[token, 0],
        end=windows.offsets[token, 1],
        sequence=selection.sequence,
        text=selection.sequence_text[selection.sequence],
        index=selection.index,
        position=token,
    )


def sequence_starts(sequence: np.ndarray) -> np.ndarray:
    begins = np.ones(len(sequence), dtype=bool)
    begins[1:] = sequence[1:] != sequence[:-1]
    return begins


def token_units(tokens: Tokens) -> Units:
    """Each token its own unit (`none`, `simple`)."""
    every = np.arange(len(tokens.ids))
    return Units(every, every, every, tokens.sequence, tokens.start, tokens.end, np.zeros(len(every), dtype=bool))


def contiguous_units(tokens: Tokens, is_new_word: np.ndarray) -> Units:
    """Units of consecutive tokens, a new one wherever `is_new_word` (the pipeline's words; text
    mode's runs of tokens that share characters)."""
    first = np.flatnonzero(is_new_word)
    last = np.append(first[1:], len(is_new_word)) - 1
    return Units(
        np.arange(len(is_new_word)),
        first,
        last,
        tokens.sequence[first],
        tokens.start[first],
        tokens.end[last],
        np.zeros(len(first), dtype=bool),
    )


def text_word_units(tokens: Tokens, layout: words.TextLayout) -> Units:
    """Words of the text, each with the tokens its characters overlap (text mode).

    Tokens are in text order within a sequence and words never overlap, so the
    (token, word) pairs come out grouped by word already. A word in two windows
    (explicit `stride`) is one unit per window, as each window is aggregated alone.
    """
    first_word, last_word = layout.words_overlapping(tokens.text, tokens.start, tokens.end)
    if np.array_equal(first_word, last_word):  # every token inside one word (always so for WordPiece)
        member_token, member_word = np.arange(len(first_word)), first_word
    else:
        counts = last_word - first_word + 1
        member_token = np.repeat(np.arange(len(counts)), counts)
        offsets_in_token = np.arange(len(member_token)) - np.repeat(np.cumsum(counts) - counts, counts)
        member_word = np.repeat(first_word, counts) + offsets_in_token
    new_unit = sequence_starts(tokens.sequence[member_token])
    new_unit[1:] |= member_word[1:] != member_word[:-1]
    first = np.flatnonzero(new_unit)
    last = np.append(first[1:], len(member_token)) - 1
    start, end = layout.word_span(member_word[first], tokens.text[member_token[first]])
    continues = tokens.start[member_token[first]] < start
    return Units(member_token, first, last, tokens.sequence[member_token[first]], start, end, continues)


class Aggregator:
    """Label tables and tokenizer helpers prepared once per (tokenizer, parameters)."""

    def __init__(
        self,
        tokenizer: Any,
        labels: tuple[str, ...],
        strategy: AggregationStrategy,
        ignore_labels: tuple[str, ...],
        word_boundaries: WordBoundaries = WordBoundaries.PIPELINE,
    ) -> None:
        self.tokenizer = tokenizer
        self.strategy = strategy
        self.word_boundaries = word_boundaries
        self.labels = labels
        tags = [split_tag(label) for label in labels]
        tag_ids = {tag: i for i, tag in enumerate(dict.fromkeys(tag for _, tag in tags))}
        self.tag_id = np.array([tag_ids[tag] for _, tag in tags], dtype=np.int64)
        self.is_begin = np.array([bi == "B" for bi, _ in tags], dtype=bool)
        self.group_name = [label.split("-", 1)[-1] for label in labels]
        self.group_names = np.array(self.group_name, dtype=object)  # indexed by label id in one step
        ignored = set(ignore_labels)
        self.ignored_entity = np.array([label in ignored for label in labels], dtype=bool)
        self.ignored_group = np.array([name in ignored for name in self.group_name], dtype=bool)
        self.unk_id = tokenizer.unk_token_id
        backend = getattr(tokenizer, "_tokenizer", None)
        self.word_aware = bool(backend and getattr(backend.model, "continuing_subword_prefix", None))
        self._tokens: list[str | None] | None = None
        self._token_lengths: np.ndarray | None = None
        self.tokens_to_string = _tokens_to_string(tokenizer)

    # -- the pipeline's subword rule ----------------------------------------------------------

    def _vocabulary_tokens(self) -> list[str | None]:
        """Every id's token string (`convert_ids_to_tokens` over the vocabulary), made once."""
        if self._tokens is None:
            self._tokens = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
        return self._tokens

    def _token_length_table(self) -> np.ndarray:
        if self._token_lengths is None:
            self._token_lengths = np.array(
                [len(t) if t is not None else -1 for t in self._vocabulary_tokens()], dtype=np.int64
            )
        return self._token_lengths

    def is_subword(
        self, ids: np.ndarray, starts: np.ndarray, ends: np.ndarray, texts: list[str], token_text: np.ndarray
    ) -> np.ndarray:
        if self.word_aware:
            table = self._token_length_table()
            in_table = ids < len(table)
            lengths = np.where(in_table, table[np.minimum(ids, len(table) - 1)], -1)
            if not in_table.all():  # ids added after the table was built
                for i in np.flatnonzero(~in_table):
                    lengths[i] = len(self.tokenizer.convert_ids_to_tokens(int(ids[i])))
            return lengths != (ends - starts)
        # Fallback heuristic: a token is a subword unless a space touches its start.
        layout = words.TextLayout.of(texts)
        if layout.size == 0:
            return np.zeros(len(ids), dtype=bool)
        position = layout.base[token_text] + starts
        previous_is_space = layout.codepoint_at(position - 1) == SPACE
        inside = starts < layout.lengths[token_text]
        current_is_space = inside & (layout.codepoint_at(position) == SPACE)
        return (starts > 0) & ~previous_is_space & ~current_is_space

    def pipeline_units(self, tokens: Tokens, texts: list[str]) -> Units:
        """Tokens, or for first/average/max the pipeline's words."""
        if not self.strategy.uses_words:
            return token_units(tokens)
        is_subword = self.is_subword(tokens.ids, tokens.start, tokens.end, texts, tokens.text)
        if self.unk_id is not None:
            is_subword &= tokens.ids != self.unk_id
        return contiguous_units(tokens, sequence_starts(tokens.sequence) | ~is_subword)

    # -- text word boundaries -----------------------------------------------------------------

    def text_units(self, tokens: Tokens, layout: words.TextLayout) -> tuple[Tokens, Units]:
        """Tokens trimmed to their non-space characters (whitespace-only ones dropped), then as units:
        the text's words (first/average/max), runs of tokens sharing characters (`simple`: byte-level
        BPE can split one character over two tokens, which must not become two entities), or tokens."""
        start, end = layout.trim(tokens.text, tokens.start, tokens.end)
        tokens.start, tokens.end = start, end
        kept = start < end
        if not kept.all():
            tokens = tokens.take(kept)
        if len(tokens.ids) == 0:
            return tokens, token_units(tokens)
        if self.strategy.uses_words:
            return tokens, text_word_units(tokens, layout)
        if self.strategy is AggregationStrategy.SIMPLE:
            shares_previous = np.zeros(len(tokens.ids), dtype=bool)
            shares_previous[1:] = tokens.start[1:] < tokens.end[:-1]
            return tokens, contiguous_units(tokens, sequence_starts(tokens.sequence) | ~shares_previous)
        return tokens, token_units(tokens)

    # -- one label per unit -------------------------------------------------------------------

    def label_units(self, units: Units, probs: np.ndarray, rows: np.ndarray) -> Units:
        """One label and score per unit from its members' probabilities (token `t`'s are `probs[rows[t]]`);
        only the rows a strategy reads are gathered."""
        first = units.first_member
        if self.strategy in (AggregationStrategy.NONE, AggregationStrategy.SIMPLE, AggregationStrategy.FIRST):
            chosen = probs[rows[units.first_token]]
            label = chosen.argmax(axis=1)
            score = chosen[np.arange(len(first)), label]
            units.label, units.score = label, score
            return units
        member_probs = probs[rows[units.member_token]]
        if self.strategy is AggregationStrategy.MAX:
            token_max = member_probs.max(axis=1)
            unit_of_member = np.repeat(np.arange(len(first)), units.last_member - first + 1)
            unit_max = np.maximum.reduceat(token_max, first)
            candidates = np.flatnonzero(token_max == unit_max[unit_of_member])
            _, first_candidate = np.unique(unit_of_member[candidates], return_index=True)
            best = candidates[first_candidate]  # the first token reaching the word's maximum
            label = member_probs[best].argmax(axis=1)
            score = token_max[best]
        else:  # AVERAGE, NaN-aware like np.nanmean
            # float32 sums, row after row, as np.nanmean does on the pipeline's stacked scores.
            finite = ~np.isnan(member_probs)
            sums = np.add.reduceat(np.where(finite, member_probs, np.float32(0)), first, axis=0)
            counts = np.add.reduceat(finite.astype(np.int64), first, axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                average = (sums / counts).astype(np.float32)
            label = average.argmax(axis=1)
            score = average[np.arange(len(first)), label]
        units.label, units.score = label, score
        return units

    # -- grouping -----------------------------------------------------------------------------

    def group_units(self, units: Units) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first unit, last unit, float32 mean score) of each group.

        A new group starts at each sequence start, tag change, or `B-` label, unless
        that unit's first token began in the previous unit (text mode: one token over
        two words carries one decision, made for the first).
        """
        label = units.label
        new_group = np.ones(len(label), dtype=bool)
        begins = self.is_begin[label[1:]] & ~units.continues[1:]
        new_group[1:] = (
            (units.sequence[1:] != units.sequence[:-1]) | begins | (self.tag_id[label[1:]] != self.tag_id[label[:-1]])
        )
        group_first = np.flatnonzero(new_group)
        group_last = np.append(group_first[1:], len(label)) - 1
        # A float32 mean, as the pipeline's np.nanmean over float32 scores; ties between
        # overlapping entities of different windows are then broken the same way.
        group_sum = np.add.reduceat(units.score.astype(np.float32), group_first)
        return group_first, group_last, (group_sum / (group_last - group_first + 1)).astype(np.float32)

    # -- entity strings -----------------------------------------------------------------------

    def token_strings(self, tokens: Tokens, texts: list[str]) -> list[str]:
        """Each token's string as the pipeline sees it: the vocabulary's, or for the
        unknown token the source text it covers."""
        vocabulary = self._vocabulary_tokens()
        ids_list = tokens.ids.tolist()
        if tokens.ids.size and int(tokens.ids.max()) >= len(vocabulary):  # ids added after the table was built
            strings = self.tokenizer.convert_ids_to_tokens(ids_list)
        else:
            strings = [vocabulary[i] for i in ids_list]
        if self.unk_id is not None:
            for i in np.flatnonzero(tokens.ids == self.unk_id).tolist():
                strings[i] = texts[tokens.text[i]][tokens.start[i] : tokens.end[i]]
        return strings

    def pipeline_word(
        self, strings: list[str], first_tokens: list[int], last_tokens: list[int], first_unit: int, last_unit: int
    ) -> str:
        """The pipeline's `word`: each word's tokens joined, then the words (or the tokens) decoded."""
        decode = self.tokens_to_string
        if self.strategy.uses_words:
            return decode(
                [decode(strings[first_tokens[u] : last_tokens[u] + 1]) for u in range(first_unit, last_unit + 1)]
            )
        return decode(strings[first_tokens[first_unit] : last_tokens[last_unit] + 1])

    # -- the whole postprocess ----------------------------------------------------------------

    def entities(
        self, windows: Windows, selection: Selection, probs: np.ndarray, texts: list[str]
    ) -> list[list[Entity]]:
        """Entities per sequence of `selection`, each a dict with the task's keys."""
        results: list[list[Entity]] = [[] for _ in range(len(selection.sequence_text))]
        tokens = token_view(windows, selection)
        if len(tokens.ids) == 0:
            return results
        layout = None
        if self.word_boundaries is WordBoundaries.TEXT:
            layout = windows.layout or words.TextLayout.of(texts)
            tokens, units = self.text_units(tokens, layout)
            if len(tokens.ids) == 0:
                return results
        else:
            units = self.pipeline_units(tokens, texts)
        units = self.label_units(units, probs, tokens.position)
        if self.strategy is AggregationStrategy.NONE:
            self.add_token_entities(results, tokens, units, texts)
        else:
            self.add_group_entities(results, tokens, units, texts, layout)
        return results

    def add_token_entities(self, results: list[list[Entity]], tokens: Tokens, units: Units, texts: list[str]) -> None:
        """`none`: one entity per token whose label is not ignored."""
        keep = np.flatnonzero(~self.ignored_entity[units.label])
        strings = self.token_strings(tokens, texts) if self.word_boundaries is WordBoundaries.PIPELINE else None
        labels, scores = units.label[keep].tolist(), units.score[keep].tolist()
        index, sequence = tokens.index[keep].tolist(), tokens.sequence[keep]
        starts, ends, text = tokens.start[keep].tolist(), tokens.end[keep].tolist(), tokens.text[keep].tolist()
        words_ = (
            [strings[t] for t in keep.tolist()]
            if strings is not None
            else [texts[t][a:b] for t, a, b in zip(text, starts, ends)]
        )
        names = [self.labels[label] for label in labels]
        found = [
            {"entity": name, "score": score, "index": i, "word": word, "start": a, "end": b}
            for name, score, i, word, a, b in zip(names, scores, index, words_, starts, ends)
        ]
        distribute(results, sequence, found)

    def add_group_entities(
        self,
        results: list[list[Entity]],
        tokens: Tokens,
        units: Units,
        texts: list[str],
        layout: words.TextLayout | None = None,
    ) -> None:
        """Grouped strategies: one entity per group whose label is not ignored; in text mode (`layout`)
        an entity never ends in punctuation that only the tail of a token reached (`without_tails`)."""
        group_first, group_last, group_score = self.group_units(units)
        group_label = units.label[group_first]
        keep = np.flatnonzero(~self.ignored_group[group_label])
        group_first, group_last, group_score = group_first[keep], group_last[keep], group_score[keep]
        group_start, group_end = units.start[group_first], units.end[group_last]
        if layout is not None and len(keep):
            text = tokens.text[units.first_token[group_first]]
            group_end, group_last, group_score = without_tails(
                layout, tokens, units, text, group_start, group_end, group_first, group_last, group_score
            )
        firsts, lasts = group_first.tolist(), group_last.tolist()
        names = self.group_names[group_label[keep]].tolist()
        scores = group_score.tolist()
        starts, ends = group_start.tolist(), group_end.tolist()
        sequence = units.sequence[group_first]
        if self.word_boundaries is WordBoundaries.PIPELINE:
            strings = self.token_strings(tokens, texts)
            first_tokens, last_tokens = units.first_token.tolist(), units.last_token.tolist()
            found = [
                self.pipeline_word(strings, first_tokens, last_tokens, first, last)
                for first, last in zip(firsts, lasts)
            ]
        else:
            text = tokens.text[units.first_token[group_first]].tolist()
            found = [texts[t][s:e] for t, s, e in zip(text, starts, ends)]
        entities = [
            {"entity_group": name, "score": score, "word": word, "start": a, "end": b}
            for name, score, word, a, b in zip(names, scores, found, starts, ends)
        ]
        distribute(results, sequence, entities)


def without_tails(
    layout: words.TextLayout,
    tokens: Tokens,
    units: Units,
    text: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    score: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entity ends moved back over punctuation that trails other punctuation inside one token (text
    mode's rule for tokens that straddle words), with each entity's last unit and mean score to match.

    A token that covers several words carries one decision. Its letters and digits take it (a word
    split across tokens), and so does punctuation right after them (`U.S.` as one token, `Co.`): the
    token made one thing of them. Punctuation that follows other punctuation inside the token is
    another matter: byte-level BPE writes an abbreviation's period and the comma or quote after it
    as one token (`.,` after "Corp", `.''` after "U.S"), and the comma's part in that token's
    decision is an accident of the merge table. Such a detached character has no decision of its
    own: inside an entity the words around it place it, and at an entity's end the entity stops
    before it. A token that starts at the character is its own decision, and counts as usual.
    """
    starts_token = np.zeros(layout.size + 1, dtype=bool)
    starts_token[layout.base[tokens.text] + tokens.start] = True
    punctuation = layout.classes == words.ALONE
    after_punctuation = np.zeros(layout.size, dtype=bool)
    after_punctuation[1:] = punctuation[:-1]
    tail = punctuation & after_punctuation & ~starts_token[:-1]
    keeps = (layout.classes != words.SPACE) & ~tail
    last_kept = np.maximum.accumulate(np.where(keeps, np.arange(layout.size), -1))
    base = layout.base[text]
    trimmed = last_kept[base + end - 1] + 1 - base
    moved = np.flatnonzero((trimmed < end) & (trimmed > start))  # an entity made only of a tail is left as is
    if len(moved) == 0:
        return end, last, score
    end, last, score = end.copy(), last.copy(), score.copy()
    for g in moved.tolist():  # rare: one per entity followed by a straddling token's punctuation
        end[g] = trimmed[g]
        while last[g] > first[g] and units.start[last[g]] >= end[g]:
            last[g] -= 1  # a unit that lay wholly in the tail leaves the entity, and its score the mean
        score[g] = np.float32(units.score[first[g] : last[g] + 1].astype(np.float32).mean(dtype=np.float32))
    return end, last, score


def distribute(results: list[list[Entity]], sequence: np.ndarray, entities: list[Entity]) -> None:
    """Append each entity to its sequence's list; `sequence` is non-decreasing, so in slices."""
    if not entities:
        return
    bounds = [0, *(np.flatnonzero(sequence[1:] != sequence[:-1]) + 1).tolist(), len(entities)]
    owners = sequence[bounds[:-1]].tolist()
    for owner, start, end in zip(owners, bounds[:-1], bounds[1:]):
        results[owner].extend(entities[start:end])


def _tokens_to_string(tokenizer: Any) -> Any:
    """`tokenizer.convert_tokens_to_string`, or the backend decoder it calls when the
    tokenizer class keeps the fast tokenizers' own version (one call per entity)."""
    from transformers import PreTrainedTokenizerFast

    if type(tokenizer).convert_tokens_to_string is PreTrainedTokenizerFast.convert_tokens_to_string:
        decoder = tokenizer.backend_tokenizer.decoder
        return decoder.decode if decoder is not None else " ".join
    return tokenizer.convert_tokens_to_string


def merge_overlapping(entities: list[Entity]) -> list[Entity]:
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
