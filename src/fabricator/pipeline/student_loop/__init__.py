"""The student in the loop of label-conditioned generation (docs/student_loop.md).

``split`` checks the run and splits the labelled pool once (rows the prompts may show, rows the
student is tested on), ``steer`` turns the student's errors into the next round's labels and
examples, ``student`` trains and scores it, ``loop`` is the ``Steering`` the round loop calls.
Nothing is imported here, so each module can be imported on its own without a circle.
"""
