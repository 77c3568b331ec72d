"""Training data: the :class:`Frame` record, readers for real datasets, self-training masks and view pairs.

Readers (import from their modules; each is light): :mod:`training.data.nyu`, :mod:`training.data.scannet`,
:mod:`training.data.hypersim` (needs ``h5py``, the ``data`` extra), :mod:`training.data.images`; synthetic
scenes live in :mod:`training.synth`.
"""

from training.data.frame import Frame, FrameReader, FrameSequence, default_intrinsics

__all__ = ["Frame", "FrameReader", "FrameSequence", "default_intrinsics"]
