"""A built-in review corpus in plain English, generated from a seed, on which word order decides
the label.

Each review holds one opinion (a single clause, two that agree joined by "and", or two opposed
clauses joined by "but", "although" or "even though") among neutral filler sentences. A clause is
one of the ways sentiment is usually written: an aspect and an adjective ("the acting was
superb"), a first-person verdict ("i loved it", "i hated every minute"), a noun phrase ("an
absolute delight", "a complete waste of time"), a fragment ("dull , lifeless and far too long"),
a length ("it was far too long"), or a recommendation ("well worth watching"), with intensifiers
("really", "absolutely") and tails ("from start to finish") around them. Negations ("not",
"wasn't", "didn't", "far from", "never") flip a clause, and in a contrast the second clause wins.
Every sentiment word and every negation appears about equally often in positive and negative
reviews, so a bag of words cannot do much better than chance, while a recurrent model that reads
the words in order can; and its vocabulary (about 270 words) is that of real praise and pans, so
the model it trains answers plain English sentences it never saw.

With more than two classes (`generate_topic_reviews`) the label is instead what a review is
about: the aspects are dealt into K groups, each named after its first aspect, and a review's
opinion clauses talk about aspects of its group, whatever their sentiment.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

# Bump when the generator's output changes: cached runs on the demo corpus are keyed on it.
# 2: a plain-English vocabulary (first-person verdicts, noun phrases, lengths, intensifiers).
GENERATOR_VERSION = 2
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
    "writing",
    "music",
    "characters",
    "visual effects",
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
    "fantastic",
    "amazing",
    "terrific",
    "touching",
    "smart",
    "engaging",
    "powerful",
    "lovely",
    "enjoyable",
    "hilarious",
    "impressive",
    "outstanding",
    "perfect",
    "fresh",
    "stunning",
    "inspired",
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
    "lifeless",
    "poor",
    "horrible",
    "dreadful",
    "silly",
    "pointless",
    "bland",
    "stupid",
    "confusing",
    "annoying",
    "cheap",
    "disappointing",
    "ridiculous",
    "mediocre",
    "awkward",
    "uninspired",
)
INTENSIFIERS = ("really", "truly", "absolutely", "very", "so", "quite", "utterly", "just")
# First-person verdicts: a verb, and what it is about.
LOVED = ("loved", "enjoyed", "adored", "liked")
HATED = ("hated", "disliked", "loathed", "regretted")
VERDICT_OBJECTS = (
    "it",
    "this film",
    "this movie",
    "every minute",
    "every minute of it",
    "the film",
)
# Noun phrases: "it was <article> <adjective?> <noun>".
PRAISE = (
    "delight",
    "masterpiece",
    "treat",
    "joy to watch",
    "triumph",
    "gem",
    "pleasure",
    "classic",
)
PANS = (
    "mess",
    "disaster",
    "waste of time",
    "letdown",
    "chore to sit through",
    "bore",
    "failure",
    "flop",
)
EMPHASIS = ("absolute", "complete", "real", "total", "genuine", "pure")
TAILS = ("from start to finish", "from beginning to end", "all the way through", "throughout")
# Lengths: too much of a thing is bad, and "not too long" good.
TOO = ("long", "slow", "short", "loud", "busy")
# The negated forms of an adjective clause, "not" the most common, as in English.
NEGATED_FORMS = (
    "{subject} {verb} not {adjective}",
    "{subject} {verb} not {adjective} at all",
    "{subject} {contracted} {adjective}",
    "{subject} {verb} never {adjective}",
    "{subject} {verb} hardly {adjective}",
    "{subject} {verb} far from {adjective}",
    "{subject} {verb} not at all {adjective}",
)
NEGATED_WEIGHTS = (0.35, 0.15, 0.15, 0.1, 0.1, 0.1, 0.05)
# "{contracted}" in a negated form, by verb.
CONTRACTED = {"was": "wasn't", "is": "isn't", "felt": "never felt", "seemed": "never seemed"}
# A verdict's verb after "did not": "i did not enjoy it".
BASE_FORM = {
    "loved": "love",
    "enjoyed": "enjoy",
    "adored": "adore",
    "liked": "like",
    "hated": "hate",
    "disliked": "dislike",
    "loathed": "loathe",
    "regretted": "regret",
}
VERBS = ("was", "is", "felt", "seemed")
RECOMMEND = ("worth it", "worth watching", "worth the ticket", "worth seeing", "worth your time")
# How often a clause is negated, and how often an opinion is two clauses that agree ("and") or
# a contrast. Plain clauses give a learner a first foothold (word polarity); negations and
# contrasts then need word order.
NEGATION_RATE = 0.35
AGREEMENT_RATE = 0.2
CONTRAST_RATE = 0.4
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
    "i saw it on a long flight",
    "the story follows a family over one summer",
    "it is the third film in the series",
    "my parents had seen it years ago",
    "we rented it on a friday night",
    "the lead actor also wrote the script",
    "it is a remake of an old french film",
    "the cinema was almost empty",
)


def _adjective_clause(
    rng: np.random.Generator, polarity: int, aspects: tuple[str, ...], film_rate: float = 0.2
) -> str:
    """ "the acting was (really) superb", or negated with a word of the other polarity.

    A ``film_rate`` share of the clauses are about the film as a whole ("it", "the film").
    """
    negated = rng.random() < NEGATION_RATE
    # A negated clause uses a word of the opposite polarity, so "not good" reads as bad.
    adjective = rng.choice(POSITIVE if polarity != negated else NEGATIVE)
    subject = (
        rng.choice(("it", "the film")) if rng.random() < film_rate else f"the {rng.choice(aspects)}"
    )
    verb = rng.choice(VERBS)
    if negated:
        form = rng.choice(len(NEGATED_FORMS), p=NEGATED_WEIGHTS)
        return NEGATED_FORMS[form].format(
            subject=subject, verb=verb, contracted=CONTRACTED[verb], adjective=adjective
        )
    if rng.random() < 0.35:
        adjective = f"{rng.choice(INTENSIFIERS)} {adjective}"
    return f"{subject} {verb} {adjective}"


def _first_person_clause(rng: np.random.Generator, polarity: int) -> str:
    """ "i loved it", "i hated every minute", or negated: "i didn't enjoy this film"."""
    negated = rng.random() < NEGATION_RATE
    verb = rng.choice(LOVED if polarity != negated else HATED)
    thing = rng.choice(VERDICT_OBJECTS)
    if negated:
        negation = rng.choice(("did not", "didn't", "never"))
        verb = verb if negation == "never" else BASE_FORM[verb]
        return f"i {negation} {verb} {thing}"
    adverb = f"{rng.choice(('really', 'truly', 'just'))} " if rng.random() < 0.3 else ""
    return f"i {adverb}{verb} {thing}"


def _noun_clause(rng: np.random.Generator, polarity: int) -> str:
    """A noun clause: "it was an absolute delight", "a complete waste of time", or negated: "not a
    masterpiece"."""
    negated = rng.random() < NEGATION_RATE
    noun = rng.choice(PRAISE if polarity != negated else PANS)
    emphasis = rng.choice(EMPHASIS) if rng.random() < 0.5 else ""
    phrase = f"{emphasis} {noun}".strip()
    article = "an" if phrase[0] in "aeiou" else "a"
    if negated:
        return f"it was {rng.choice(('not', 'never', 'hardly'))} {article} {phrase}"
    opening = rng.choice(("it was", "what", "the film is", "it is"))
    return f"{opening} {article} {phrase}"


def _length_clause(rng: np.random.Generator, polarity: int) -> str:
    """ "it was far too long" is bad, "it was never too slow" good."""
    length = rng.choice(TOO)
    if polarity:
        return f"it was {rng.choice(('not', 'never', 'not at all'))} too {length}"
    return f"it was {rng.choice(('far ', 'way ', 'much ', ''))}too {length}"


def _recommend_clause(rng: np.random.Generator, polarity: int) -> str:
    """ "it was well worth watching" is good, "it was hardly worth it" bad."""
    verdict = rng.choice(RECOMMEND)
    if polarity:
        return f"it was {rng.choice(('well', 'really', 'definitely'))} {verdict}"
    return f"it was {rng.choice(('not', 'hardly', 'never'))} {verdict}"


def _fragment_clause(rng: np.random.Generator, polarity: int) -> str:
    """A verbless fragment: "dull , lifeless and far too long", "not funny at all"."""
    if rng.random() < NEGATION_RATE:
        return f"not {rng.choice(NEGATIVE if polarity else POSITIVE)} at all"
    words = list(
        rng.choice(POSITIVE if polarity else NEGATIVE, size=rng.integers(1, 4), replace=False)
    )
    if not polarity and rng.random() < 0.3:
        words.append(f"{rng.choice(('far', 'way', 'much'))} too {rng.choice(TOO)}")
    if rng.random() < 0.3:
        words[0] = f"{rng.choice(INTENSIFIERS)} {words[0]}"
    if len(words) == 1:
        return words[0]
    return f"{' , '.join(words[:-1])} and {words[-1]}"


# Each kind of clause and how often it is drawn.
CLAUSES: tuple[tuple[Callable[[np.random.Generator, int], str], float], ...] = (
    (lambda rng, polarity: _adjective_clause(rng, polarity, ASPECTS), 0.4),
    (_first_person_clause, 0.18),
    (_noun_clause, 0.15),
    (_fragment_clause, 0.12),
    (_length_clause, 0.05),
    (_recommend_clause, 0.1),
)


_WEIGHTS = np.array([weight for _, weight in CLAUSES])
CLAUSE_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def _clause(rng: np.random.Generator, polarity: int) -> str:
    """One opinion clause whose effective polarity is ``polarity`` (1 good, 0 bad)."""
    clause = CLAUSES[rng.choice(len(CLAUSES), p=CLAUSE_WEIGHTS)][0](rng, polarity)
    if rng.random() < 0.12:
        clause += f" {rng.choice(TAILS)}"
    return clause


def _opinion(rng: np.random.Generator, label: int) -> str:
    """A single clause, two that agree, or a contrast whose second clause carries the label."""
    kind = rng.random()
    if kind < AGREEMENT_RATE:
        return f"{_clause(rng, label)} and {_clause(rng, label)}"
    if kind < 1 - CONTRAST_RATE:
        return _clause(rng, label)
    first, second = _clause(rng, 1 - label), _clause(rng, label)
    draw = rng.random()
    if draw < 0.5:
        return f"{first} but {second}"
    return f"{'although' if draw < 0.8 else 'even though'} {first} , {second}"


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
            # Every clause names an aspect: it is what the label is about.
            _adjective_clause(rng, int(rng.integers(0, 2)), aspects, film_rate=0.0)
            for _ in range(rng.integers(1, 3))
        ]
        texts.append(_review(rng, [" but ".join(clauses)]))
    return pa.table(
        {
            "text": pa.array(texts, pa.string()),
            "label": pa.array([names[label] for label in labels], pa.string()),
        }
    )
