"""Warm starts: a new network that begins from the champion's weights.

The champion and the new network have the same architecture (`rnn_retrain.stages.train.
starting_point` checks it) but each its own vocabulary, fitted on its own week's data: the same
token may have another id. The embedding is therefore copied row by row through the tokens both
vocabularies hold; rows of new tokens keep their fresh initialisation. Every other layer's
weights are the champion's, except the n-gram branch's: its ratios are counted again on this run's
rows (`fitting.fit_ngram_ratios`), its learned weights follow the unigrams' ids, and those of
hashed n-grams are kept only when every token kept its id (a hashed n-gram's bucket is a function
of its tokens' ids).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnn_retrain.data.preprocessing import OOV_ID, PAD_ID
from rnn_retrain.model.network import EMBEDDING, NGRAM_BRANCH


def shared_token_ids(champion: pa.Table, current: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """The ids, in the current and in the champion's vocabulary, of every token both hold.

    Both tables have ``token`` and ``id`` columns. Padding and out-of-vocabulary ids map to
    themselves. Returns (current ids, champion ids), aligned.
    """
    positions = pc.index_in(current["token"], value_set=champion["token"].combine_chunks())
    found = pc.is_valid(positions)
    current_ids = current["id"].filter(found).to_numpy()
    champion_ids = champion["id"].take(positions.filter(found)).to_numpy()
    special = np.array([PAD_ID, OOV_ID])
    return (
        np.concatenate([special, current_ids]).astype(np.int64),
        np.concatenate([special, champion_ids]).astype(np.int64),
    )


def copy_champion_weights(
    champion: Any, network: Any, current_ids: np.ndarray, champion_ids: np.ndarray
) -> None:
    """Give ``network`` the ``champion``'s weights, layer by layer (same names, same shapes).

    ``current_ids`` / ``champion_ids`` are `shared_token_ids`: the embedding rows (and the
    n-gram branch's unigram weights) they pair are copied; the others keep their values.
    """
    same_ids = np.array_equal(current_ids, champion_ids) and (
        champion.get_layer(EMBEDDING).input_dim == network.get_layer(EMBEDDING).input_dim
    )
    for layer in network.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        lent = champion.get_layer(layer.name).get_weights()
        if layer.name == EMBEDDING:
            weights[0][current_ids] = lent[0][champion_ids]
        elif layer.name == NGRAM_BRANCH:
            # [ratios, learned]: ratios are fitted on this run's rows before the first epoch.
            if same_ids:
                weights[1] = lent[1]
            else:
                weights[1][current_ids] = lent[1][champion_ids]
        else:
            weights = lent
        layer.set_weights(weights)


def copy_champion_into(
    network: Any, champion_network: Path, champion_vocabulary: pa.Table, vocabulary: pa.Table
) -> int:
    """Copy a champion's saved network's weights into ``network``, mapped by token.

    Returns how many of this run's tokens kept their embedding rows; 0 (nothing copied) when the
    two vocabularies share no token.
    """
    from rnn_retrain.model.layers import load_network

    champion = load_network(champion_network)
    current_ids, champion_ids = shared_token_ids(champion_vocabulary, vocabulary)
    shared = len(current_ids) - 2  # Padding and out-of-vocabulary are not tokens.
    if shared:
        copy_champion_weights(champion, network, current_ids, champion_ids)
    return shared
