"""Shared by every task, knowing none of them: files, inputs, output, settings, events,
the task interface, TensorFlow start-up, training, model files, plots, decoding.

Nothing in dlkit.core imports dlkit.vision, dlkit.text, dlkit.tasks or dlkit.cli.
"""
