"""The first model a newcomer meets: `retrain run` with every default, offline, on the demo corpus.

It must answer plain English the way a reader would: praise, pans and simple negation, in
sentences the demo generator never wrote (checked here against a large sample of its output).
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.data.demo import generate_reviews
from rnn_retrain.data.preprocessing import standardize_text
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.model.package import predict_reviews
from rnn_retrain.model.serving import BULK_LOADING
from rnn_retrain.registry.versions import ModelRegistry

PRAISE = [
    "An absolute delight from start to finish, I loved it.",
    "What a wonderful film, I really enjoyed it.",
    "Brilliant acting and a moving story.",
    "The cast was superb and the music was beautiful.",
    "Not bad at all, I liked it.",
    "Never boring, always gripping.",
]
PANS = [
    "Dull, lifeless and far too long.",
    "A complete waste of time.",
    "I hated it from the first minute.",
    "The plot was boring and the acting was awful.",
    "I did not enjoy the movie.",
    "The acting was not good.",
]


def standardized(texts: list[str]) -> set[str]:
    return {" ".join(text.split()) for text in standardize_text(pa.array(texts)).to_pylist()}


def sentences(reviews: list[str]) -> list[str]:
    """The generator's sentences: it joins them with " . " and ends the review with "."."""
    return [sentence for review in reviews for sentence in review.rstrip(".").split(" . ")]


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_the_default_champion_reads_plain_english_praise_pans_and_negation(tmp_path):
    # None of the sentences is one the generator writes, whatever the seed.
    written = standardized(sentences(generate_reviews(20_000, seed=11)["text"].to_pylist()))
    assert not standardized(PRAISE + PANS) & written
    summary = retrain(RetrainConfig.from_flat(artifact_root=str(tmp_path / "artifacts")))
    assert summary.registration.decision.promote
    registry = ModelRegistry(summary.config.registry.tracking_uri, "review-sentiment")
    model = registry.load(registry.champion().version, model_config=BULK_LOADING)
    scores = dict(zip(PRAISE + PANS, predict_reviews(model, PRAISE + PANS).tolist(), strict=True))
    wrong = {
        text: round(score, 3)
        for text, score in scores.items()
        if (score >= 0.5) != (text in PRAISE)
    }
    assert not wrong, scores
