import numpy as np
import pytest

from rnn_retrain.config.retrain import RegistrySettings, RetrainConfig
from rnn_retrain.stages.register import decide_promotion, lineage_key, mcnemar_exact


def paired(
    both: int, only_challenger: int, only_champion: int, neither: int
) -> tuple[np.ndarray, np.ndarray]:
    challenger = (
        [True] * both + [True] * only_challenger + [False] * only_champion + [False] * neither
    )
    champion = (
        [True] * both + [False] * only_challenger + [True] * only_champion + [False] * neither
    )
    return np.array(challenger), np.array(champion)


def test_exact_mcnemar_matches_the_binomial_tail():
    challenger, champion = paired(80, 10, 2, 8)
    b, c, p_value = mcnemar_exact(challenger, champion)
    assert (b, c) == (10, 2)
    # Two-sided exact p: 2 * P(X <= 2), X ~ Binomial(12, 1/2) = 2 * (1 + 12 + 66) / 4096.
    assert p_value == pytest.approx(2 * 79 / 4096)


def test_mcnemar_of_identical_predictions_is_one():
    challenger, champion = paired(50, 0, 0, 50)
    assert mcnemar_exact(challenger, champion) == (0, 0, 1.0)


def test_mcnemar_needs_the_same_rows():
    with pytest.raises(ValueError, match="same rows"):
        mcnemar_exact(np.ones(3, bool), np.ones(4, bool))


def test_first_model_is_promoted_only_above_the_floor():
    config = RegistrySettings(min_accuracy=0.7)
    good = decide_promotion(np.array([True] * 8 + [False] * 2), None, None, config)
    assert good.promote and good.reason.startswith("first model")
    bad = decide_promotion(np.array([True] * 6 + [False] * 4), None, None, config)
    assert not bad.promote and "below min_accuracy 0.7" in bad.reason


def test_better_policy_needs_a_significant_improvement():
    config = RegistrySettings(promotion_policy="better")
    challenger, champion = paired(80, 10, 2, 8)
    decision = decide_promotion(challenger, champion, "3", config)
    assert decision.promote and decision.champion_version == "3"
    assert (decision.challenger_only_correct, decision.champion_only_correct) == (10, 2)
    assert decision.accuracy_gain == pytest.approx(0.08)
    assert decision.reason.startswith("significantly better than champion v3 (McNemar b=10 c=2")
    slightly, champion = paired(84, 5, 3, 8)
    assert not decide_promotion(slightly, champion, "3", config).promote


def test_not_worse_policy_keeps_only_significantly_worse_models_out():
    config = RegistrySettings(promotion_policy="not_worse", min_accuracy_gain=-0.05)
    tie, champion = paired(84, 4, 5, 7)
    assert decide_promotion(tie, champion, "1", config).promote
    worse, champion = paired(78, 1, 12, 9)
    decision = decide_promotion(worse, champion, "1", config)
    assert not decision.promote and decision.reason.startswith("significantly worse")


def test_minimum_gain_applies_even_when_significant():
    config = RegistrySettings(min_accuracy_gain=0.1)
    challenger, champion = paired(80, 10, 2, 8)
    decision = decide_promotion(challenger, champion, "1", config)
    assert not decision.promote and "below min_accuracy_gain 0.1" in decision.reason


def test_lineage_key_follows_data_and_recipe_not_storage_or_gate():
    base = lineage_key("abc", RetrainConfig())
    elsewhere = RetrainConfig.from_flat(artifact_root="/elsewhere", min_accuracy=0.9, data="x.csv")
    assert lineage_key("abc", elsewhere) == base
    assert lineage_key("abd", RetrainConfig()) != base
    assert lineage_key("abc", RetrainConfig.from_flat(maxlen=100)) != base
    assert lineage_key("abc", RetrainConfig.from_flat(seed=2)) != base
