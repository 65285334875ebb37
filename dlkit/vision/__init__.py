"""Shared by the image tasks: reading users' images, ImageNet backbones, class folders.

Imports dlkit.core only; never a task.
"""
