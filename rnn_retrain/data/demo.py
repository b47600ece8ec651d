"""A built-in review corpus, generated from a seed, on which word order decides the label.

Each review holds one opinion (a single clause, or two opposed clauses joined by "but" or
"although") among neutral filler sentences. Negations ("not good", "hardly worth it", "far from
brilliant") flip a clause, and in a contrast the second clause wins. Every sentiment word and every
negation appears about equally often in positive and negative reviews, so a bag of words cannot do
much better than chance, while a recurrent model that reads the words in order can.

With more than two classes (`generate_topic_reviews`) the label is instead what a review is
about: the aspects are dealt into K groups, each named after its first aspect, and a review's
opinion clauses talk about aspects of its group, whatever their sentiment.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# Bump when the generator's output changes: cached runs on the demo corpus are keyed on it.
GENERATOR_VERSION = 1
ASPECTS = (
    "acting",
    "plot",
    "script",
    "soundtrack",
    "cinematography",
    "pacing",
    "dialogue",
    "ending",
    "cast",
    "direction",
    "story",
    "humour",
    "villain",
    "editing",
    "lead performance",
    "score",
)
POSITIVE = (
    "good",
    "great",
    "wonderful",
    "brilliant",
    "excellent",
    "superb",
    "moving",
    "delightful",
    "gripping",
    "charming",
    "clever",
    "funny",
    "memorable",
    "beautiful",
)
NEGATIVE = (
    "bad",
    "awful",
    "terrible",
    "boring",
    "dull",
    "weak",
    "clumsy",
    "tedious",
    "painful",
    "forgettable",
    "lazy",
    "predictable",
    "messy",
    "flat",
)
NEGATIONS = ("not", "hardly", "far from", "never", "not at all")
VERBS = ("was", "is", "felt", "seemed")
VERDICTS = ("worth it", "worth watching", "worth the ticket")
# How often a clause is negated and how often an opinion is a two-clause contrast. Plain clauses
# give a learner a first foothold (word polarity); negations and contrasts then need word order.
NEGATION_RATE = 0.35
CONTRAST_RATE = 0.5
FILLERS = (
    "i watched it with my brother last weekend",
    "it runs a little over two hours",
    "the film is set in a small coastal town",
    "i went in knowing nothing about it",
    "it is based on a novel i have not read",
    "we saw it at the late show on a rainy sunday",
    "the director made two films before this one",
    "it came out the same year as the sequel",
    "my friend picked it for our movie night",
    "most of it was shot on location",
    "the trailer gives away a few scenes",
    "there is a short scene after the credits",
)


def _clause(rng: np.random.Generator, polarity: int, aspects: tuple[str, ...] = ASPECTS) -> str:
    """One opinion clause whose effective polarity is ``polarity`` (1 good, 0 bad)."""
    negated = rng.random() < NEGATION_RATE
    # A negated clause uses a word of the opposite polarity, so "not good" reads as bad.
    word_positive = polarity != negated
    adjective = rng.choice(POSITIVE if word_positive else NEGATIVE)
    aspect = rng.choice(aspects)
    verb = rng.choice(VERBS)
    if rng.random() < 0.15:
        # Verdict clauses: "hardly worth it" is bad, "well worth it" is good.
        verdict = rng.choice(VERDICTS)
        if polarity:
            return f"it was {rng.choice(('well', 'really', 'definitely'))} {verdict}"
        return f"it was {rng.choice(('not', 'hardly', 'never'))} {verdict}"
    if negated:
        return f"the {aspect} {verb} {rng.choice(NEGATIONS)} {adjective}"
    return f"the {aspect} {verb} {adjective}"


def _opinion(rng: np.random.Generator, label: int) -> str:
    """A single clause, or a contrast whose second clause carries the label."""
    if rng.random() >= CONTRAST_RATE:
        return _clause(rng, label)
    first, second = _clause(rng, 1 - label), _clause(rng, label)
    if rng.random() < 0.5:
        return f"{first} but {second}"
    return f"although {first} , {second}"


def generate_reviews(size: int, seed: int) -> pa.Table:
    """Generate ``size`` labelled reviews (columns ``text``, ``label``), balanced by label.

    Args:
        size: Number of reviews.
        seed: Seed for the generator; the same seed gives the same corpus.

    Returns:
        A table with a string ``text`` column and an int8 ``label`` column (1 = positive).
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(size) % 2)
    texts = [_review(rng, [_opinion(rng, int(label))]) for label in labels]
    return pa.table({"text": pa.array(texts, pa.string()), "label": pa.array(labels, pa.int8())})


def _review(rng: np.random.Generator, sentences: list[str]) -> str:
    """Opinion sentences with 0-2 neutral fillers put before or after them."""
    for _ in range(rng.integers(0, 3)):
        filler = rng.choice(FILLERS)
        if rng.random() < 0.5:
            sentences.insert(0, filler)
        else:
            sentences.append(filler)
    return " . ".join(sentences).capitalize() + "."


def topic_groups(classes: int) -> dict[str, tuple[str, ...]]:
    """The aspects dealt into ``classes`` groups, each named after its first aspect."""
    if not 2 <= classes <= len(ASPECTS) // 2:
        raise ValueError(f"demo classes must be between 2 and {len(ASPECTS) // 2}, got {classes}")
    groups = [ASPECTS[index::classes] for index in range(classes)]
    return {group[0]: group for group in groups}


def generate_topic_reviews(size: int, seed: int, classes: int) -> pa.Table:
    """Generate ``size`` reviews labelled by topic: ``classes`` string labels, balanced.

    Each review holds one or two opinion clauses (either sentiment) about aspects of its topic's
    group (`topic_groups`), among the same neutral fillers as the sentiment corpus.

    Returns:
        A table with a string ``text`` column and a string ``label`` column (the topic's name).
    """
    rng = np.random.default_rng(seed)
    groups = topic_groups(classes)
    names = list(groups)
    labels = rng.permutation(np.arange(size) % classes)
    texts = []
    for label in labels:
        aspects = groups[names[label]]
        clauses = [
            _clause(rng, int(rng.integers(0, 2)), aspects) for _ in range(rng.integers(1, 3))
        ]
        texts.append(_review(rng, [" but ".join(clauses)]))
    return pa.table(
        {
            "text": pa.array(texts, pa.string()),
            "label": pa.array([names[label] for label in labels], pa.string()),
        }
    )
