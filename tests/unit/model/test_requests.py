"""Scoring requests checked in the body as sent, in each of MLflow's request shapes."""

import json

import pytest

from rnn_retrain.model.requests import refused_review

JSON = "application/json"
# A value that is not a review, and the words the message must say about it.
BAD = {
    "a number": (42, "is the number 42, not text"),
    "a null": (None, "is null, not text"),
    "a boolean": (True, "is the boolean true, not text"),
    "a list": (["good", "film"], 'is a list ["good", "film"], not text'),
    "an object": ({"words": "good film"}, 'is an object {"words": "good film"}, not text'),
}
GOOD = ["the plot was not good", "a wonderful film"]


def bodies(reviews: list) -> dict[str, dict]:
    """The same reviews in each JSON shape MLflow's scoring server takes."""
    return {
        "dataframe_split": {
            "dataframe_split": {"columns": ["text"], "data": [[r] for r in reviews]}
        },
        "dataframe_records": {"dataframe_records": [{"text": r} for r in reviews]},
        "inputs (column)": {"inputs": {"text": reviews}},
        "inputs (list)": {"inputs": reviews},
        "inputs (records)": {"inputs": [{"text": r} for r in reviews]},
        "instances (records)": {"instances": [{"text": r} for r in reviews]},
        "instances (list)": {"instances": reviews},
    }


@pytest.mark.parametrize("bad", BAD)
def test_a_value_that_is_not_text_is_named_by_its_position_in_every_shape(bad):
    value, words = BAD[bad]
    for shape, body in bodies([*GOOD, value]).items():
        message = refused_review(json.dumps(body).encode(), JSON)
        assert message is not None and message.startswith(f"review 3 {words}"), (shape, message)


def test_text_in_every_shape_and_what_is_not_a_scoring_request_are_left_to_mlflow():
    for shape, body in bodies(GOOD).items():
        assert refused_review(json.dumps(body).encode(), JSON) is None, shape
    assert refused_review(b'{"inputs": "one review"}', JSON) is None
    # Not JSON, no shape, two shapes, another content type: MLflow's own answers say so.
    assert refused_review(b"not json", JSON) is None
    assert refused_review(b'{"text": ["good"]}', JSON) is None
    assert refused_review(b'{"inputs": ["a"], "instances": ["b"]}', JSON) is None
    assert refused_review(b"\xff\xfe", JSON) is None
    assert refused_review(b'{"inputs": [42]}', "text/plain") is None


def test_a_record_or_row_without_text_and_an_empty_request_are_refused():
    cases = {
        '{"dataframe_records": [{"text": "fine"}, {"review": "x"}]}': "review 2 has no 'text' field",
        '{"instances": [{"text": "fine"}, {"review": "x"}]}': "review 2 has no 'text' field",
        '{"dataframe_split": {"columns": ["text"], "data": [["fine"], []]}}': "review 2 has no 'text'",
        '{"dataframe_split": {"columns": ["review"], "data": [["x"]]}}': "no 'text' field in the request (fields: ['review'])",
        '{"inputs": {"review": ["x"]}}': "no 'text' field in the request",
        '{"dataframe_records": []}': "no reviews to score",
        '{"inputs": []}': "no reviews to score",
    }
    for body, words in cases.items():
        message = refused_review(body.encode(), f"{JSON}; charset=utf-8")
        assert message is not None and message.startswith(words), (body, message)


def test_csv_is_refused_for_what_it_can_say_is_missing_and_its_cells_are_text():
    csv = "text/csv"
    assert refused_review(b"text\nfine\n10\n[1, 2]\n", csv) is None  # CSV cells have no types.
    assert refused_review(b"id,text\n1,fine\n2,\n", csv).startswith("review 2 is an empty cell")
    assert refused_review(b'id,text\n1,fine\n2,""\n', csv).startswith("review 2 is an empty cell")
    assert refused_review(b"id,text\n1,fine\n\n2\n", csv).startswith("review 2 has no 'text'")
    assert refused_review(b"review\nfine\n", csv).startswith("no 'text' field in the request")
    assert refused_review(b"text\n", csv).startswith("no reviews to score")
