import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from rnn_retrain.data.demo import generate_reviews


def test_same_seed_same_corpus_other_seed_other_corpus():
    assert generate_reviews(200, seed=1).equals(generate_reviews(200, seed=1))
    assert not generate_reviews(200, seed=1).equals(generate_reviews(200, seed=2))


def test_corpus_is_balanced_and_sized():
    table = generate_reviews(1001, seed=0)
    assert table.num_rows == 1001
    assert abs(int(np.sum(table["label"].to_numpy())) - 500) <= 1


def test_negations_and_contrasts_appear_in_both_classes():
    table = generate_reviews(2000, seed=0).to_pydict()
    for marker in (" not ", " but ", "although "):
        labels = {
            label
            for text, label in zip(table["text"], table["label"])
            if marker in f" {text.lower()}"
        }
        assert labels == {0, 1}, marker


def test_a_bag_of_words_cannot_learn_it_well():
    # Word order decides the label, so a linear bag-of-words model stays far below what a
    # recurrent model reaches (about 0.9 with the default recipe, see the README).
    table = generate_reviews(4000, seed=0)
    texts, labels = table["text"].to_pylist(), table["label"].to_numpy()
    features = CountVectorizer().fit_transform(texts)
    model = LogisticRegression(max_iter=2000).fit(features[:3000], labels[:3000])
    assert model.score(features[3000:], labels[3000:]) < 0.7
