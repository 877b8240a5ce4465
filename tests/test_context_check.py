"""A prompt well over the model's context is refused before any call, with what to change."""

from __future__ import annotations

import pytest
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import ConfigError
from fabricator.llms.fake import Fake

PROMPT = BasePrompt(
    "Classify the review as one of: {}.",
    label_options=["positive", "negative"],
    generate_data_for_column="label",
    fewshot_example_columns="text",
)
POOL = Dataset.from_dict(
    {
        "text": [f"review {i}: " + "a long and winding sentence about the film " * 5 for i in range(200)],
        "label": ["positive", "negative"] * 100,
    }
)
ROWS = Dataset.from_dict({"text": ["a fine film", "a dull film"]})


class SmallContext(Fake):
    """A fake backend that, like the embedded model, has a context of ``tokens`` a request."""

    def __init__(self, tokens: int) -> None:
        super().__init__(lambda text: "positive")
        self.context_tokens = tokens


def test_the_whole_pool_in_every_prompt_is_refused_before_any_call():
    llm = SmallContext(2048)
    with pytest.raises(ConfigError) as caught:
        DatasetGenerator(llm).generate(PROMPT, POOL, unlabeled_dataset=ROWS, max_prompt_calls=2, tune="off")
    assert (
        "200 few-shot examples" in caught.value.message and "context of 2,048 tokens" in caught.value.message
    )
    assert "fewshot_examples_per_class" in caught.value.hint
    assert llm.requests == []


def test_a_prompt_that_fits_runs_and_a_backend_without_a_known_context_is_not_checked():
    fits = SmallContext(2048)
    DatasetGenerator(fits).generate(PROMPT, POOL, "stratified", 2, unlabeled_dataset=ROWS, max_prompt_calls=2)
    assert len(fits.requests) == 2
    unknown = Fake(lambda text: "positive")
    DatasetGenerator(unknown).generate(PROMPT, POOL, unlabeled_dataset=ROWS, max_prompt_calls=2, tune="off")
    assert len(unknown.requests) == 2  # the server decides (a large context, or its own error)
