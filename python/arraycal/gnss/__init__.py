#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""GNSS: u-blox UBX (reading, logging, configuring, generating), RTKLIB .pos
solutions, and the GNSS message source block."""
