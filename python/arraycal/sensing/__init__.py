#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Calibration-assisted sensing (Jiang et al., Section IV-B/C): offsets removed
with the reciprocity calibration, range-Doppler maps, MTI and CA-CFAR
detection, channel prediction from the sensed paths, and the bounds; the
message blocks are in .blocks."""

from .core import (  # noqa: F401
    C, SensingError, ca_cfar, channel_phase_change, compensate, crlb, detect,
    offsets_from_calibration, predict_channel, range_doppler)

_BLOCKS = ("sensing_range_doppler", "sensing_link_sim")


def __getattr__(name):
    # the message blocks need GNU Radio; the library above needs only numpy
    if name in _BLOCKS:
        from . import blocks
        return getattr(blocks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
