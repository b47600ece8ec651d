import numpy as np
import pyarrow as pa
import pytest

from rnn_retrain.data.labels import (
    BINARY_CLASSES,
    distinct_labels,
    encode_labels,
    fit_classes,
    metric_name,
    predicted_ids,
)
from rnn_retrain.errors import RetrainError


def classes_of(values, max_classes=100):
    return fit_classes(distinct_labels([pa.array(values)]), "f.csv", "y", max_classes)


@pytest.mark.parametrize(
    "values",
    [
        [0, 1, 1],
        [False, True, True],
        ["neg", "pos", "POS"],
        ["negative", " Positive", "positive"],
        ["0", "1", "true"],
        [0.0, 1.0, 1.0],
    ],
)
def test_labels_in_any_binary_spelling_map_to_0_and_1(values):
    classes = classes_of(values)
    assert classes == list(BINARY_CLASSES)
    assert encode_labels(
        pa.chunked_array([pa.array(values)]), classes, "f.csv", "y"
    ).to_pylist() == [0, 1, 1]


def test_a_binary_encoding_still_refuses_a_value_outside_the_binary_set():
    with pytest.raises(RetrainError, match=r"f.csv: label column 'y' .*\[2\]"):
        encode_labels(pa.array([0, 1, 2]), list(BINARY_CLASSES), "f.csv", "y")


def test_missing_labels_are_refused():
    with pytest.raises(RetrainError, match="1 rows have no value in label column 'y'"):
        encode_labels(pa.array([0, None]), list(BINARY_CLASSES), "f.csv", "y")


def test_integer_labels_are_classes_ordered_by_value_in_any_spelling():
    values = [5, 1, 3, 10, 1]
    classes = classes_of(values)
    assert classes == ["1", "3", "5", "10"]  # By value, not as text ("10" < "3").
    assert encode_labels(pa.array(values), classes, "f", "y").to_pylist() == [2, 0, 1, 3, 0]
    # The same classes written as text, with signs, zero padding or a float's ".0".
    assert encode_labels(pa.array(["05", "+1", " 3 ", "10"]), classes, "f", "y").to_pylist() == [
        2,
        0,
        1,
        3,
    ]
    assert encode_labels(pa.array([5.0, 10.0]), classes, "f", "y").to_pylist() == [2, 3]


def test_string_labels_are_classes_in_text_order_and_case_matters():
    classes = classes_of(["sport", "Arts", "news", "sport", " news "])
    assert classes == ["Arts", "news", "sport"]
    encoded = encode_labels(pa.array(["news", "Arts", "sport"]), classes, "f", "y")
    assert encoded.type == pa.int8() and encoded.to_pylist() == [1, 0, 2]
    with pytest.raises(RetrainError, match=r"values outside its classes .*\['arts'\]"):
        encode_labels(pa.array(["arts"]), classes, "f", "y")


def test_two_labels_that_are_not_a_binary_spelling_are_two_named_classes():
    assert classes_of(["spam", "ham", "spam"]) == ["ham", "spam"]


def test_more_classes_than_the_cap_are_refused_naming_the_setting():
    with pytest.raises(
        RetrainError,
        match=r"f.csv: label column 'y' has 12 distinct values, more than max_classes=10",
    ):
        classes_of([f"topic {i}" for i in range(12)], max_classes=10)
    assert len(classes_of([f"topic {i}" for i in range(10)], max_classes=10)) == 10


def test_distinct_labels_are_gathered_across_chunks_without_nulls():
    distinct = distinct_labels([pa.array(["a", None]), pa.chunked_array([["b", "a"]])])
    assert sorted(distinct.to_pylist()) == ["a", "b"]


def test_predictions_and_class_matrices():
    np.testing.assert_array_equal(predicted_ids(np.array([0.2, 0.5, 0.9]), 0.5), [0, 1, 1])
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    np.testing.assert_array_equal(predicted_ids(scores, 0.5), [1, 0])
    assert metric_name("sci/fi & more") == "sci_fi___more"
