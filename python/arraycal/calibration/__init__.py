#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Calibration: array geometry, the offset model and estimator, the one
pipeline from LoS taps and GNSS fixes to a stored calibration, the store, the
report, and the blocks that estimate live and apply a calibration."""
