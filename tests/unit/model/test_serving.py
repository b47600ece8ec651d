"""What the servable model accepts as input, before any network runs."""

import pandas as pd
import pytest

from rnn_retrain.model.serving import review_texts


def test_a_list_and_a_text_column_give_the_same_reviews():
    reviews = ["the plot was not good", "great film"]
    assert review_texts(reviews) == reviews
    assert review_texts(pd.DataFrame({"text": reviews})) == reviews


@pytest.mark.parametrize(
    ("model_input", "message"),
    [
        (pd.DataFrame({"review": ["great film"]}), "no 'text' field"),
        (pd.DataFrame({"text": []}), "no reviews to score"),
        ([], "no reviews to score"),
        (pd.DataFrame({"text": ["fine", 5]}), "review 2 is int 5, not text"),
        ([None], "review 1 is NoneType"),
        ("great film", "a single string"),
    ],
)
def test_malformed_input_is_a_value_error_that_names_the_fix(model_input, message):
    with pytest.raises(ValueError, match=message):
        review_texts(model_input)
