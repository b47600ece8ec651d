"""Text preprocessing shared by training and serving: standardise, split, encode, pad.

The registered model bundles this module, so a review is turned into ids the same way when the
model is trained and when it serves, byte for byte. Everything is vectorised with pyarrow compute
kernels and numpy index arithmetic: no Python loop runs per review or per token, except for a
served request's few reviews (`few_ascii_token_lists`, `TokenLookup`), where the kernels' fixed
cost per call is most of the work.

A token is a maximal run of letters and digits (Unicode ``\\p{L}`` and ``\\p{N}``) of the
lower-cased text, once HTML tags (``<br />``) count as separators and apostrophes (' and ’) are
dropped, so "Don't" is the one token "dont".

Id 0 is padding and id 1 is out-of-vocabulary; vocabulary tokens have ids from 2 upwards.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PAD_ID = 0
OOV_ID = 1
FIRST_TOKEN_ID = 2
APOSTROPHES = ("'", "’")
# One run of separators, turned into a single space: HTML tags, a "<" that opens no tag, and every
# character that is neither a letter, a digit nor whitespace. Whitespace is left to the split, so
# that a plain space between two words costs no regex match.
SEPARATORS = r"(?:<[^>]*>|[^\p{L}\p{N}\s<]|<)+"
# Texts are processed in slices of this many items: small enough that each step's copy of a slice
# stays in the CPU caches and its memory is reused by the next slice (a copy of the whole text per
# step costs memory and page faults), large enough that the per-call overhead is noise. Serving
# sends fewer, in one slice.
ITEMS_PER_SLICE = 8192

Result = TypeVar("Result")


def map_slices(function: Callable[[pa.Array], Result], array: pa.Array) -> list[Result]:
    """Apply ``function`` to consecutive slices of ``array``, in order, on a pool of threads.

    Pyarrow compute kernels release the GIL, so slices are processed in parallel on up to
    ``pa.cpu_count()`` cores (``pa.set_cpu_count`` lowers it).
    """
    if len(array) <= ITEMS_PER_SLICE:
        return [function(array)]
    slices = [
        array.slice(start, ITEMS_PER_SLICE) for start in range(0, len(array), ITEMS_PER_SLICE)
    ]
    with ThreadPoolExecutor(max_workers=min(pa.cpu_count(), len(slices))) as pool:
        return list(pool.map(function, slices))


# Up to this many texts (a served request's), the separators are replaced through google-re2's
# compiled pattern: pyarrow's kernel compiles the pattern on every call, which for this one
# (its Unicode classes) costs more than replacing a long review's separators through the
# compiled pattern; a pyarrow call of many texts shares that cost among them. Both are RE2.
FEW_TEXTS = 8
# A few texts that are all ASCII (90% of IMDB's reviews) are tokenised by Python's own string
# methods, with no pyarrow call at all: for ASCII text, lower-casing, `SEPARATORS` and the
# whitespace split have exact ASCII equivalents (below), and a review reaches its padded ids
# much faster this way than through the pyarrow kernels and RE2
# (`benchmarks/tokenise_few.py` measures both). Anything else takes the general path, so Unicode
# case mapping and character classes are only ever pyarrow's. `tests/unit/stages/test_tokenize.py`
# holds both paths to the same tokens on every ASCII character.
#
# The ASCII equivalents: a tag becomes a space (the same leftmost match as `SEPARATORS`' first
# alternative); then every character that is neither a letter, a digit nor RE2's ``\s``
# (``[\t\n\f\r ]``) becomes a space, a lone "<" included, and the apostrophe is deleted. What
# whitespace is left, ``str.split`` splits exactly as the ASCII kernels do.
ASCII_TAGS = re.compile(r"<[^>]*>")
ASCII_SEPARATORS = {
    code: None if chr(code) == "'" else " "
    for code in range(128)
    if not (chr(code).isalnum() or chr(code) in "\t\n\f\r ")
}


def few_ascii_token_lists(texts: Sequence[str | None]) -> list[list[str]] | None:
    """Each text's tokens, as `tokenize_texts` gives them, when there are at most `FEW_TEXTS`
    texts and all are ASCII strings; otherwise None (the caller takes the general path)."""
    if len(texts) > FEW_TEXTS or not all(
        isinstance(text, str) and text.isascii() for text in texts
    ):
        return None
    return [ASCII_TAGS.sub(" ", text.lower()).translate(ASCII_SEPARATORS).split() for text in texts]


@functools.cache
def separators_pattern() -> Any:
    """`SEPARATORS`, compiled once by RE2, the engine of pyarrow's regex kernels."""
    import re2

    return re2.compile(SEPARATORS)


def standardize_text(texts: pa.Array) -> pa.Array:
    """Lower-case, drop apostrophes, and turn every run of separators into spaces.

    Separators are HTML tags and every character that is not a letter or a digit. Apostrophes are
    dropped rather than split on, so "don't" stays one token ("dont"); they are never "<" or ">",
    so dropping them first changes no tag.
    """
    standardized = pc.utf8_lower(texts)
    for apostrophe in APOSTROPHES:
        standardized = pc.replace_substring(standardized, apostrophe, "")
    if len(standardized) > FEW_TEXTS:
        return pc.replace_substring_regex(standardized, SEPARATORS, " ")
    pattern = separators_pattern()
    replaced = [
        None if text is None else pattern.sub(" ", text) for text in standardized.to_pylist()
    ]
    return pa.array(replaced, standardized.type)


def split_tokens(texts: pa.Array) -> pa.ListArray:
    """Split standardised texts on whitespace into one list of tokens per text.

    RE2's ``\\s`` is ASCII whitespace only, so the only whitespace `SEPARATORS` leaves is ASCII,
    and the ASCII kernels (faster than the UTF-8 ones) split it the same way.
    """
    trimmed = pc.ascii_trim_whitespace(texts)
    tokens = pc.ascii_split_whitespace(trimmed)
    is_empty = pc.equal(pc.binary_length(trimmed), 0).fill_null(False)
    empty_rows = np.flatnonzero(is_empty.to_numpy(zero_copy_only=False))
    if empty_rows.size == 0:
        return tokens
    # An empty text splits into [""]: drop those empty tokens, one per empty row.
    offsets = tokens.offsets.to_numpy()
    keep = np.ones(offsets[-1] - offsets[0], dtype=bool)
    keep[offsets[empty_rows] - offsets[0]] = False
    removed_before = np.zeros(len(offsets), dtype=offsets.dtype)
    removed_before[empty_rows + 1] = 1
    new_offsets = (offsets - offsets[0] - np.cumsum(removed_before)).astype(offsets.dtype)
    return pa.ListArray.from_arrays(pa.array(new_offsets), tokens.flatten().filter(keep))


def tokenize_slice(texts: pa.Array) -> pa.ListArray:
    """Standardise and split one slice of texts (the unit of work of one thread)."""
    return split_tokens(standardize_text(texts))


def tokenize_texts(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Standardise and split texts: the one tokenisation used in training and at serving time."""
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    slices = map_slices(tokenize_slice, texts)
    return slices[0] if len(slices) == 1 else pa.concat_arrays(slices)


class EncodedSlice(NamedTuple):
    """One slice of texts, tokenized and dictionary-encoded."""

    token_counts: np.ndarray  # Tokens in each text of the slice.
    positions: np.ndarray  # Each token's position among the slice's own distinct tokens (int32).
    distinct: (
        np.ndarray
    )  # Each of those distinct tokens' position among all texts' distinct tokens.


def dictionary_encode_slice(texts: pa.Array) -> tuple[np.ndarray, pa.DictionaryArray]:
    """Tokenize one slice of texts: each text's token count, and its tokens dictionary-encoded."""
    tokens = tokenize_slice(texts)
    return np.diff(tokens.offsets.to_numpy()), pc.dictionary_encode(tokens.flatten())


def dictionary_encode_texts(
    texts: pa.Array | pa.ChunkedArray,
) -> tuple[pa.Array, list[EncodedSlice]]:
    """Tokenize texts and hash each token once, in slices, never holding all token strings.

    Returns:
        The distinct tokens of all texts, and the texts' slices encoded against them.
    """
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    encoded_slices = map_slices(dictionary_encode_slice, texts)
    # Hashing the slices' own small dictionaries together maps each onto the distinct tokens of
    # all texts, so the positions of the tokens themselves are never rewritten.
    slice_tokens = [encoded.dictionary for _, encoded in encoded_slices]
    all_tokens = pc.dictionary_encode(pa.concat_arrays(slice_tokens))
    bounds = np.cumsum([0] + [len(tokens) for tokens in slice_tokens])
    distinct = np.split(all_tokens.indices.to_numpy(), bounds[1:-1])
    return all_tokens.dictionary, [
        EncodedSlice(token_counts, encoded.indices.to_numpy(), slice_distinct)
        for (token_counts, encoded), slice_distinct in zip(encoded_slices, distinct)
    ]


def encode_tokens(tokens: pa.ListArray, vocabulary: pa.Table) -> pa.ListArray:
    """Replace every token by its id; tokens outside the vocabulary become `OOV_ID`."""
    positions = pc.index_in(tokens.flatten(), value_set=vocabulary["token"].combine_chunks())
    ids = pc.fill_null(pc.add(positions.cast(pa.int32()), FIRST_TOKEN_ID), OOV_ID)
    return _lists_like(tokens, ids.cast(pa.int32()))


def _lists_like(tokens: pa.ListArray, ids: pa.Array) -> pa.ListArray:
    """``ids`` (one per token of ``tokens``, flattened) cut into the same lists as ``tokens``."""
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), ids)


class TokenLookup:
    """A vocabulary's token-to-id map, built once for many small lookups (a served model's).

    `encode_tokens` hashes the whole vocabulary on every call (``pc.index_in``): right for a
    data set's millions of tokens, but for one review's few hundred tokens that hashing is
    most of the cost, and it grows with the vocabulary; this map, built once, does not. Large
    inputs still go through `encode_tokens`; both give the same ids (`tests/unit/data`).
    """

    # Above this many tokens, one hashing of the vocabulary is cheaper than Python lookups.
    BULK_TOKENS = 100_000

    def __init__(self, vocabulary: pa.Table) -> None:
        self.vocabulary = vocabulary
        tokens = vocabulary["token"].to_pylist()
        self._ids = {token: position + FIRST_TOKEN_ID for position, token in enumerate(tokens)}

    def encode(self, tokens: pa.ListArray) -> pa.ListArray:
        """`encode_tokens` of ``tokens``: each token's id, `OOV_ID` outside the vocabulary."""
        flat = tokens.flatten()
        if len(flat) > self.BULK_TOKENS:
            return encode_tokens(tokens, self.vocabulary)
        return _lists_like(tokens, pa.array(self._ids_of(flat.to_pylist(), len(flat))))

    def encode_lists(self, token_lists: list[list[str]]) -> pa.ListArray:
        """The same ids for tokens already in Python lists (`few_ascii_token_lists`)."""
        lengths = [len(tokens) for tokens in token_lists]
        flat = (token for tokens in token_lists for token in tokens)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        return pa.ListArray.from_arrays(
            pa.array(offsets), pa.array(self._ids_of(flat, int(offsets[-1])))
        )

    def _ids_of(self, tokens: Iterable[str], count: int) -> np.ndarray:
        return np.fromiter((self._ids.get(token, OOV_ID) for token in tokens), np.int32, count)


def kept_token_ids(
    token_ids: pa.ListArray, maxlen: int, truncating: Literal["pre", "post"]
) -> tuple[np.ndarray, np.ndarray]:
    """The ids that survive truncation to ``maxlen``, in row order, and how many each row keeps."""
    offsets = token_ids.offsets.to_numpy()
    values = token_ids.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]]
    lengths = np.diff(offsets)
    kept = np.minimum(lengths, maxlen)
    if (lengths <= maxlen).all():
        return values, kept
    # Each row is a dropped part and a kept part: which comes first depends on `truncating`.
    dropped = lengths - kept
    parts = (dropped, kept) if truncating == "pre" else (kept, dropped)
    is_kept = (False, True) if truncating == "pre" else (True, False)
    keep = np.repeat(np.tile(is_kept, len(kept)), np.stack(parts, axis=1).ravel())
    return values[keep], kept


def pad_rows(
    token_ids: pa.ListArray,
    padded: np.ndarray,
    padding: Literal["pre", "post"],
    truncating: Literal["pre", "post"],
) -> None:
    """Write each id list, padded or truncated to ``padded.shape[1]`` ids, into ``padded``."""
    maxlen = padded.shape[1]
    values, kept = kept_token_ids(token_ids, maxlen, truncating)
    columns = np.arange(maxlen, dtype=np.int32)
    if padding == "pre":
        is_filled = columns >= (maxlen - kept)[:, np.newaxis]
    else:
        is_filled = columns < kept[:, np.newaxis]
    # A boolean mask assigns in row-major order: row by row, left to right, as `values` runs.
    padded[is_filled] = values


def pad_token_ids(
    token_ids: pa.ListArray,
    maxlen: int,
    padding: Literal["pre", "post"] = "pre",
    truncating: Literal["pre", "post"] = "pre",
) -> np.ndarray:
    """Pad or truncate each id list to ``maxlen`` ids.

    Args:
        token_ids: One list of int ids per review.
        maxlen: Output length.
        padding: ``"pre"`` puts the padding before the ids, ``"post"`` after.
        truncating: ``"pre"`` drops ids from the start of long lists (keeps the end),
            ``"post"`` drops them from the end.

    Returns:
        An int32 array of shape ``(len(token_ids), maxlen)``, padded with `PAD_ID`.
    """
    if maxlen < 1:
        raise ValueError(f"maxlen must be at least 1, got {maxlen}")
    padded = np.full((len(token_ids), maxlen), PAD_ID, dtype=np.int32)
    # Row blocks keep the masks and truncated copies small, whatever the number of rows.
    for start in range(0, len(token_ids), ITEMS_PER_SLICE):
        block = slice(start, start + ITEMS_PER_SLICE)
        pad_rows(token_ids[block], padded[block], padding, truncating)
    return padded


def texts_to_padded_ids(
    texts: pa.Array | pa.ChunkedArray | Sequence[str],
    lookup: TokenLookup,
    maxlen: int,
    padding: Literal["pre", "post"] = "pre",
    truncating: Literal["pre", "post"] = "pre",
) -> np.ndarray:
    """Raw review texts to the padded id matrix a trained model reads (``lookup``: its
    vocabulary's, built once by whoever scores many requests).

    A Python sequence of a few ASCII texts (a served request) is tokenised in Python
    (`few_ascii_token_lists`); every other input by the pyarrow kernels.
    """
    if not isinstance(texts, (pa.Array, pa.ChunkedArray)):
        token_lists = few_ascii_token_lists(texts)
        if token_lists is not None:
            return pad_token_ids(lookup.encode_lists(token_lists), maxlen, padding, truncating)
        texts = pa.array(list(texts), pa.string())
    return pad_token_ids(lookup.encode(tokenize_texts(texts)), maxlen, padding, truncating)


def to_fixed_size_list(padded: np.ndarray) -> pa.FixedSizeListArray:
    """Store a (rows, maxlen) matrix as one fixed-size-list column without copying per row."""
    return pa.FixedSizeListArray.from_arrays(pa.array(padded.ravel()), padded.shape[1])


def to_matrix(column: pa.ChunkedArray | pa.FixedSizeListArray) -> np.ndarray:
    """Turn a fixed-size-list column back into a (rows, maxlen) int32 matrix."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array.flatten().to_numpy().reshape(len(array), array.type.list_size)
