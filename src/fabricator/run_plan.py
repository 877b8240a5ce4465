"""The plan of a recipe's run, walked without a completion call (``fabricator plan`` and budgets).

It resolves the task and walks the run's own seeded ``Planner``: the very prompts the run will
send, counted by ``costing``. Only how ``max_prompt_calls`` is shared out is read here (proposals
first, then each row's first ask with its label check or votes, re-asks and top-ups in the rest).
"""

from __future__ import annotations

from pathlib import Path

from .attributes import Proposal, proposals
from .costing import Plan, PromptTally, count_prompts, over_budget
from .errors import ConfigError
from .execution.calls import CallBudget
from .llms.base import LLM
from .options import SYSTEM_PROMPT, SamplingOptions, check_budget
from .pipeline.filters.verification import VerifyPrompt
from .pipeline.plan import Planner
from .pipeline.resolve import resolve_task
from .pipeline.setup import target_of
from .pipeline.task import Task
from .previous_run import Previous, previous_run
from .recipe import Recipe
from .recipe_inputs import RecipeInputs
from .scoring.label_scores import SCORING_MAX_TOKENS

__all__ = ["MAX_TRIES", "plan_run", "refuse_over_budget"]

#: planned prompts made per round (the plan is never kept whole, as in the run)
ROUND = 1_000
#: the calls one row may take when its answers are wrong (``DatasetGenerator``'s ``max_tries``)
MAX_TRIES = 3


def _resolve(llm: LLM, recipe: Recipe, inputs: RecipeInputs) -> tuple[Task, SamplingOptions]:
    """The task as the run resolves it, with the run's sampling options."""
    g = recipe.generation
    sampling = g.sampling.model_copy(update={"system_prompt": g.sampling.system_prompt or SYSTEM_PROMPT})
    few = recipe.fewshot
    task = resolve_task(
        inputs.prompt,
        inputs.fewshot,
        few.sampling_strategy if few else None,
        few.examples_per_class if few else None,
        few.sampling_column if few else None,
        inputs.unlabeled,
        llm=llm,
        sampling=sampling,
        output_format=inputs.fmt,
    )
    return task, sampling


def _spare_calls(max_prompt_calls: int, asks: list[Proposal], checking: bool) -> int:
    """The calls left for the rows after the attribute proposals (made first, from the same cap)."""
    spare = max_prompt_calls - len(asks)
    if spare < (2 if checking else 1):
        raise ConfigError(
            f"max_prompt_calls ({max_prompt_calls}) leaves no call for the rows after the "
            f"{len(asks)} attribute proposal(s)",
            hint="raise max_prompt_calls (each proposal is one call), or give the values as lists",
        )
    return spare


def _walk(llm: LLM, planner: Planner, rows: int) -> tuple[int, PromptTally, PromptTally]:
    """One walk of the plan in rounds ("similar" examples looked up once a row): the rows' first
    asks (fewer than the rows with ``rows_per_call``), their prompts and their votes' prompts."""
    prompts, votes = PromptTally(llm), PromptTally(llm)
    asks = 0
    for start in range(0, rows, ROUND):
        for item in planner.items(start, min(rows, start + ROUND)):
            asks += 1
            prompts.add(item.messages)
            for messages, _ in item.votes:
                votes.add(messages)
    return asks, prompts, votes


def _check_prompt_tokens(
    llm: LLM, task: Task, sampling: SamplingOptions, rows: int, previous: Previous | None
) -> int:
    """The label checks' prompts: the rows' texts are not written yet, so a stand-in of the
    typical answer's length (the previous run's, else ``max_tokens`` words) takes their place."""
    words = round(previous.completion_per_call) if previous is not None else sampling.max_tokens
    ask = VerifyPrompt(task, sampling, sampling.system_prompt)
    stand_in = " ".join(["word"] * max(1, min(words, sampling.max_tokens)))
    return count_prompts(llm, (ask.item(i, stand_in).messages for i in range(rows)))[0]


def _previous(llm: LLM, output: Path | None) -> tuple[Previous | None, str]:
    """The previous run in ``output`` if it used this model."""
    previous, why = previous_run(output)
    if previous is not None and previous.model != llm.name:
        return None, f"the previous run used another model ({previous.model})"
    return previous, why


def plan_run(llm: LLM, recipe: Recipe, inputs: RecipeInputs, output: Path | None = None) -> Plan:
    """The plan of ``recipe`` with its inputs already built (as ``run_recipe`` builds them)."""
    g = recipe.generation
    check_budget(g.budget)  # as the run does, before anything is counted
    task, sampling = _resolve(llm, recipe, inputs)
    checking = sampling.verify and task.unlabeled is None  # each row: its first ask and a label check
    # the run's own target: the rows it aims at and the calls each sets aside (ask, check or votes)
    calls, samples = g.max_prompt_calls, g.num_samples_to_generate
    target = target_of(task, sampling, "local", calls, samples, verify=checking)
    asks = proposals(task, sampling)
    spare = _spare_calls(calls, asks, checking)
    planner = Planner(task, sampling.system_prompt)  # a fresh one: the run's seeded sequence
    rows = planner.reserve(CallBudget(spare), target.wanted, target.per_row, first=True)
    others = task.prompts_per_row - 1  # a scored row's other prompts (votes)
    # annotation: a row at most MAX_TRIES calls besides its votes; generation: top-ups use the rest
    max_calls = calls if target.generation else min(calls, rows * (MAX_TRIES + others))
    first_asks, row_prompts, vote_prompts = _walk(llm, planner, rows)
    tokens, how, exact = row_prompts.total()
    previous, why = _previous(llm, output)
    scored = task.scoring in ("auto", "logprobs")  # one greedy step of at most SCORING_MAX_TOKENS
    return Plan(
        model=llm.name,
        mode=task.mode,
        rows=rows,
        max_calls=max_calls,
        prompt_tokens=tokens,
        counted_by=how,
        exact=exact,
        max_tokens=min(sampling.max_tokens, SCORING_MAX_TOKENS) if scored else sampling.max_tokens,
        prices=g.budget.prices,
        previous=previous,
        no_previous=why,
        checks=rows if checking else 0,
        check_prompt_tokens=_check_prompt_tokens(llm, task, sampling, rows, previous) if checking else 0,
        votes=rows * others,
        vote_prompt_tokens=vote_prompts.total()[0],  # 0 without votes
        proposals=len(asks),
        proposal_prompt_tokens=count_prompts(llm, (a.request.messages for a in asks))[0] if asks else 0,
        proposal_completion_bound=sum(a.request.max_tokens for a in asks),
        rows_per_call=task.rows_per_call,
        calls_for_rows=first_asks if task.rows_per_call > 1 else 0,
    )


def refuse_over_budget(llm: LLM, recipe: Recipe, inputs: RecipeInputs, output: Path | None) -> None:
    """``ConfigError`` when a budget is set and the plan does not fit it (no completion call made)."""
    budget = recipe.generation.budget
    if budget.budget_tokens is None and budget.budget_usd is None:
        return
    why = over_budget(plan_run(llm, recipe, inputs, output), budget)
    if why is not None:
        raise ConfigError(
            why,
            hint="raise the budget, plan fewer rows or a smaller max_tokens (fabricator plan RECIPE shows "
            "the plan), or pass --spend-budget to run until the budget is spent",
        )
