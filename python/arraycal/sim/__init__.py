#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Simulation: the channel emulator (moving transmitter, element offsets,
reflection, CFO, noise, GNSS logs) and the whole simulated campaign of
`arraycal demo`."""
