"""Drift figures of scored reviews against a model's reference: none on its own kind of data,
each figure on the shift it measures."""

import numpy as np
import pyarrow as pa

from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.stages.drift import (
    DriftCounter,
    drift_findings,
    drift_reference,
    drifted,
    findings_table,
)

LIMITS = ScoreConfig(
    input="reviews.parquet", max_oov_increase=0.05, max_psi=0.25, max_class_share_change=0.15
)
WORDS = ["good", "bad", "film", "plot", "acting", "great", "boring", "story"]


def reviews(rng: np.random.Generator, rows: int, lengths=(5, 40), words=WORDS) -> list[str]:
    return [" ".join(rng.choice(words, rng.integers(*lengths))) for _ in range(rows)]


def reference(rng: np.random.Generator):
    profile = {"vocabulary": WORDS, "oov_rate": 0.0, "length_deciles": None}
    lengths = rng.integers(5, 40, 2000)
    profile["length_deciles"] = [float(x) for x in np.percentile(lengths, np.arange(10, 100, 10))]
    scores = rng.beta(2, 2, 2000)
    predictions = pa.table({"probability": scores, "prediction": (scores >= 0.5).astype(np.int8)})
    return drift_reference(profile, predictions, classes=2)


def counted(texts: list[str], scores: np.ndarray, ref) -> DriftCounter:
    counter = DriftCounter(ref, classes=2)
    for start in range(0, len(texts), 300):  # Chunk by chunk, as batch scoring feeds it.
        counter.add(texts[start : start + 300], scores[start : start + 300])
    return counter


def test_reviews_like_the_models_own_do_not_drift():
    rng = np.random.default_rng(0)
    ref = reference(rng)
    findings = drift_findings(counted(reviews(rng, 1000), rng.beta(2, 2, 1000), ref), LIMITS)
    assert [f.check for f in findings] == ["oov_rate", "length_psi", "score_psi", "class_share"]
    assert drifted(findings) == [], findings


def test_each_figure_flags_the_shift_it_measures():
    rng = np.random.default_rng(1)
    ref = reference(rng)
    unknown = reviews(rng, 1000, words=[*WORDS, "zorp", "quib", "flem", "gax"])
    assert drifted(drift_findings(counted(unknown, rng.beta(2, 2, 1000), ref), LIMITS)) == [
        "oov_rate"
    ]
    long = reviews(rng, 1000, lengths=(80, 120))
    assert drifted(drift_findings(counted(long, rng.beta(2, 2, 1000), ref), LIMITS)) == [
        "length_psi"
    ]
    # Scores piled near 0.5 from both sides: the class shares stay, their spread does not.
    narrow = np.concatenate([rng.uniform(0.45, 0.5, 500), rng.uniform(0.5, 0.55, 500)])
    assert drifted(drift_findings(counted(reviews(rng, 1000), narrow, ref), LIMITS)) == [
        "score_psi"
    ]
    # Nine in ten reviews now predicted positive.
    positive = np.where(
        rng.random(1000) < 0.9, rng.uniform(0.5, 1, 1000), rng.uniform(0, 0.5, 1000)
    )
    findings = drift_findings(counted(reviews(rng, 1000), positive, ref), LIMITS)
    assert "class_share" in drifted(findings)
    table = findings_table(findings)
    assert table.column("drifted").to_pylist() == [f.severity == "warning" for f in findings]
