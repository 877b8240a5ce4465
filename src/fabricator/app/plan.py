"""The plan of a recipe's run, walked without a completion call (``fabricator plan`` and budgets).

It resolves the task and walks the run's own seeded ``Planner``: the very prompts the run will
send, counted by ``costing``. Only how ``max_prompt_calls`` is shared out is read here (proposals
first, then each row's first ask with its label check or votes, re-asks and top-ups in the rest).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..generator import DatasetGenerator
from ..llms.base import LLM
from ..options import SYSTEM_PROMPT, SamplingOptions, check_budget
from ..pipeline.filters.pool_check import PoolCheck
from ..pipeline.filters.verification import VerifyPrompt
from ..pipeline.plan import Planner
from ..pipeline.prepare import RunPlan, calls_for_rows, reask_allowance
from ..pipeline.student_loop.pilots import pilot_calls
from ..pipeline.task import MAX_TRIES, Task
from ..pipeline.tune.plan import TunePlan
from ..scoring.label_scores import SCORING_MAX_TOKENS
from .costing import Plan, PromptTally, count_prompts, over_budget
from .previous_run import Previous, previous_choice, previous_run
from .recipe import Recipe
from .recipe_inputs import RecipeInputs

__all__ = ["plan_run", "planned_run", "pool_check_line", "refuse_over_budget", "tuning_line"]

#: planned prompts made per round (the plan is never kept whole, as in the run)
ROUND = 1_000


def planned_run(llm: LLM, recipe: Recipe, inputs: RecipeInputs) -> RunPlan:
    """The run of ``recipe`` planned as the generator plans it (no model call): what the budget
    check and ``fabricator plan`` count, and what ``run_recipe`` then hands to the generator."""
    g, few = recipe.generation, recipe.fewshot
    return DatasetGenerator(llm).plan(
        inputs.prompt,
        inputs.fewshot,
        few.sampling_strategy if few else None,
        few.examples_per_class if few else None,
        few.sampling_column if few else None,
        inputs.unlabeled,
        g.max_prompt_calls,
        g.num_samples_to_generate,
        output_format=inputs.fmt,
        options=g.replace(system_prompt=g.sampling.system_prompt or SYSTEM_PROMPT),
    )


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


def pool_check_line(task: Task) -> str:
    """What the pool check will do to the generated rows (``""``: no check)."""
    check = PoolCheck.of(task, task.sampling)
    if check is None:
        return ""
    labels = ", ".join(sorted(check.checked_labels))
    return (
        f"rows of {labels} that a classifier fitted on the pool's {check.counts.pool_rows:,} labelled "
        "rows reads as another label are dropped and written again (no call; [student] extra)"
    )


def tuning_line(tuning: TunePlan | None) -> str:
    """What tuning will do before the run (``fabricator plan``), or why it will not."""
    if tuning is None:
        return ""
    if tuning.skipped:
        return f"not tuned: {tuning.skipped}"
    names = ", ".join(c.name for c in tuning.candidates)
    calibrations = " (each with and without calibration)" if len(tuning.calibrations) > 1 else ""
    stages = len(tuning.stages)
    halving = (
        f" in {stages} stages of {tuning.rows // stages} rows, the better half going on "
        f"({' → '.join(map(str, tuning.keep))} candidates)"
        if stages > 1
        else ""
    )
    pool = (
        "; then a pool classifier ([student] extra) mixed in where it helps, at no call"
        if tuning.pool_classifier
        else ""
    )
    return (
        f"{len(tuning.candidates)} candidate settings ({names}){calibrations} scored on up to "
        f"{tuning.rows} held-out pool rows{halving}; kept unless clearly beaten: "
        f"{_setting(*tuning.base)}{pool}; at most {tuning.calls:,} calls before the run "
        f"(budget {tuning.budget:,}; journaled answers are free)"
    )


def _previous_choice(llm: LLM, planned: RunPlan, output: Path | None) -> str:
    """What tuning chose in the folder's last run of this model, where this run tunes too."""
    tuning = planned.tuning
    if tuning is None or tuning.skipped:
        return ""
    return previous_choice(output, llm.name)


def _setting(name: str, calibration: str) -> str:
    return f"{name}-calibrated" if calibration == "batch" else name


def plan_run(
    llm: LLM, recipe: Recipe, inputs: RecipeInputs, output: Path | None = None, planned: RunPlan | None = None
) -> Plan:
    """The plan of ``recipe`` with its inputs already built (as ``run_recipe`` builds them), or of
    the run it has ``planned`` already."""
    g = recipe.generation
    check_budget(g.budget)  # as the run does, before anything is counted
    planned = planned or planned_run(llm, recipe, inputs)
    task, target, asks = planned.task, planned.target, planned.asks
    sampling, calls, checking = task.sampling, target.calls, task.verified  # checking: each row's label
    planner, rows = planned.first_rows(calls_for_rows(planned))
    others = task.prompts_per_row - 1  # a scored row's other prompts (votes)
    # annotation: a row at most MAX_TRIES calls besides its votes; generation: top-ups use the rest
    max_calls = calls if target.generation else min(calls, rows * (MAX_TRIES + others))
    first_asks, row_prompts, vote_prompts = _walk(llm, planner, rows)
    tokens, how, exact = row_prompts.total()
    previous, why = _previous(llm, output)
    scored = task.scoring in ("auto", "logprobs")  # one greedy step of at most SCORING_MAX_TOKENS
    return Plan(
        model=llm.name,
        mode=task.kind.name,
        rows=rows,
        max_calls=max_calls,
        prompt_tokens=tokens,
        counted_by=how,
        exact=exact,
        max_tokens=min(sampling.max_tokens, SCORING_MAX_TOKENS) if scored else sampling.max_tokens,
        prices=g.budget.prices,
        batch_prices=g.budget.batch_prices,
        previous=previous,
        no_previous=why,
        checks=rows if checking else 0,
        check_prompt_tokens=_check_prompt_tokens(llm, task, sampling, rows, previous) if checking else 0,
        votes=rows * others,
        vote_prompt_tokens=vote_prompts.total()[0],  # 0 without votes
        proposals=len(asks),
        proposal_prompt_tokens=count_prompts(llm, (a.request.messages for a in asks))[0] if asks else 0,
        proposal_completion_bound=sum(a.request.max_tokens for a in asks),
        rows_per_call=sampling.rows_per_call,
        calls_for_rows=first_asks if sampling.rows_per_call > 1 else 0,
        tuning_calls=planned.tuning.calls if planned.tuning is not None else 0,
        tuning=tuning_line(planned.tuning),
        previous_tuning=_previous_choice(llm, planned, output),
        pilot_calls=pilot_calls(task),
        pool_check=pool_check_line(task),
        reask_allowance=reask_allowance(planned),
    )


def refuse_over_budget(
    llm: LLM, recipe: Recipe, inputs: RecipeInputs, output: Path | None, planned: RunPlan | None = None
) -> None:
    """``ConfigError`` when a budget is set and the plan does not fit it (no completion call made);
    ``planned``: the run's own plan, counted instead of planned again."""
    budget = recipe.generation.budget
    if budget.budget_tokens is None and budget.budget_usd is None:
        return
    why = over_budget(plan_run(llm, recipe, inputs, output, planned), budget)
    if why is not None:
        raise ConfigError(
            why,
            hint="raise the budget, plan fewer rows or a smaller max_tokens (fabricator plan RECIPE shows "
            "the plan), or pass --spend-budget to run until the budget is spent",
        )
