"""dlkit: classic deep-learning models for vision and language behind one command.

Importing the package is cheap; TensorFlow loads only when a task's model code is
used (dlkit.tasks.sentiment.load(), ...), through dlkit.core.runtime. The layers:
dlkit.core (shared by all), dlkit.vision and dlkit.text (shared by the image and the
language tasks), dlkit.tasks (one package per task), dlkit.cli (the command line).
"""

__version__ = "0.1.0"
