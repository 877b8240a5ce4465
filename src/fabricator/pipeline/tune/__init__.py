"""Settings chosen on the user's labelled few-shot pool (docs/tuning.md).

``folds`` holds pool rows out in k folds, ``candidates`` lists the settings worth trying,
``plan`` sizes the tuning within its budget (no model call), ``scorer`` scores a candidate's
held-out answers, ``choice`` is what was chosen and ``run`` runs the candidates. Nothing is
imported here, so ``pipeline.task`` can import ``choice`` without a circle.
"""
