"""Allocation tags from a billing file's tag column (FOCUS `Tags`, CUR `resource_tags`).

The column is a map (Parquet) or a JSON object as text (CSV, or Parquet
written that way). For each allocation dimension the rules file lists the
accepted tag keys, first non-empty match wins; values stay raw here and are
normalized with every other source's in line_items.prepare_line_items.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cost_assets.ingestion.line_items import TAG_COLUMNS, TAG_DIMENSION, BadCostDataError
from cost_assets.rules import Rules

TAG_ERROR = "tag_error"


def no_tags(rows: int) -> pd.DataFrame:
    frame = pd.DataFrame({column: pd.Series([None] * rows, dtype=object) for column in TAG_COLUMNS})
    frame[TAG_ERROR] = None
    return frame


def extract_tags(values: pa.ChunkedArray | None, rules: Rules, column: str, where: str) -> pd.DataFrame:
    """One row per input row: the raw team / service / customer_id / environment
    values, and `tag_error` naming why a row's tags could not be read (else None).
    `column` and `where` (the file) name the column in errors."""
    if values is None:
        return no_tags(0)
    if pa.types.is_dictionary(values.type):  # JSON text read dictionary-encoded
        values = values.cast(values.type.value_type)
    if pa.types.is_map(values.type):
        return _from_map(values, rules)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type) or pa.types.is_null(values.type):
        return _from_json(values.to_pandas(), rules, column)
    raise BadCostDataError(f"{where}: column {column} has type {values.type}; expected a map or a JSON object as text")


def _from_map(values: pa.ChunkedArray, rules: Rules) -> pd.DataFrame:
    # Entries are flattened once; keys and values repeat, so each distinct one
    # is looked at once (dictionary encoding), not once per row or alias.
    maps = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    offsets = maps.offsets.to_numpy()  # absolute positions in the (unsliced) keys and items
    keys = _encoded(maps.keys.slice(offsets[0], offsets[-1] - offsets[0]))
    items = _encoded(maps.items.slice(offsets[0], offsets[-1] - offsets[0]))
    parents = np.repeat(np.arange(len(maps)), np.diff(offsets))
    key_codes = keys.indices.to_numpy(zero_copy_only=False)
    item_codes = pc.fill_null(items.indices, -1).to_numpy(zero_copy_only=False)
    filled = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(items.dictionary), ""), False).to_numpy(zero_copy_only=False)
    usable = (item_codes >= 0) & np.append(filled, False)[item_codes]
    usable &= maps.is_valid().to_numpy(zero_copy_only=False)[parents]  # a null map may still span entries
    values = pd.Index(items.dictionary.to_numpy(zero_copy_only=False), dtype=object)  # every tag column's categories
    frame = {}
    for column in TAG_COLUMNS:
        aliases = rules.tag_keys[TAG_DIMENSION[column]]
        rank = pc.index_in(keys.dictionary, value_set=pa.array(aliases, type=keys.dictionary.type))
        rank = pc.fill_null(rank, -1).to_numpy(zero_copy_only=False)
        if not (rank >= 0).any():  # no alias of this dimension in the batch
            chosen = np.full(len(maps), -1, dtype=np.int64)
        else:
            rank = rank[key_codes]
            candidates = np.flatnonzero(usable & (rank >= 0))
            candidate_rank = rank[candidates]
            chosen = np.full(len(maps), -1, dtype=np.int64)
            present = np.flatnonzero(np.bincount(candidate_rank, minlength=len(aliases)))
            for position in present[::-1]:  # the first alias is written last and wins
                hits = candidates[candidate_rank == position] if len(present) > 1 else candidates
                chosen[parents[hits]] = item_codes[hits]
        frame[column] = pd.Categorical.from_codes(chosen, categories=values, validate=False)
    result = pd.DataFrame(frame)
    result[TAG_ERROR] = None
    return result


def _encoded(values: pa.Array) -> pa.DictionaryArray:
    """Dictionary-encoded text (as read when the Parquet reader was asked for it, else encoded here)."""
    return values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)


def _from_json(text: pd.Series, rules: Rules, column: str) -> pd.DataFrame:
    # Billing rows repeat the same few tag sets: parse each distinct text once.
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    parsed_values = {c: [] for c in TAG_COLUMNS}
    errors = []
    for raw in uniques:
        tags, error = _parse_object(raw, column)
        errors.append(error)
        for tag_column in TAG_COLUMNS:
            parsed_values[tag_column].append(_first_value(tags, rules.tag_keys[TAG_DIMENSION[tag_column]]))
    frame = {}
    missing = codes < 0
    for tag_column in TAG_COLUMNS:
        lookup = np.array(parsed_values[tag_column] + [None], dtype=object)
        frame[tag_column] = lookup[np.where(missing, len(uniques), codes)]
    lookup_errors = np.array(errors + [None], dtype=object)
    frame[TAG_ERROR] = lookup_errors[np.where(missing, len(uniques), codes)]
    return pd.DataFrame(frame, index=text.index)


def _parse_object(raw: str, column: str) -> tuple[dict, str | None]:
    try:
        tags = json.loads(raw)
    except (TypeError, ValueError):
        return {}, f"{column} is not valid JSON: {_short(raw)!r}"
    if not isinstance(tags, dict):
        return {}, f"{column} is not a JSON object: {_short(raw)!r}"
    return tags, None


def _first_value(tags: dict, keys: list[str]) -> str | None:
    for key in keys:
        value = tags.get(key)
        if value is not None and str(value).strip() != "":
            return str(value)
    return None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
