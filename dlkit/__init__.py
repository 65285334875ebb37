"""dlkit: classic deep-learning models for vision and language behind one command.

Importing the package is cheap; TensorFlow loads only with the task modules
(dlkit.classify, ...), through dlkit.runtime.
"""

__version__ = "0.1.0"
