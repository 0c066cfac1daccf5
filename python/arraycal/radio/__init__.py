#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Radio: the calibration packet, the transmitter and receiver front ends
(UHD, ZMQ, files), SigMF recordings, the C++ receive chain's Python side
(rx_chain, apes), and the one live receiver built on it (receiver)."""
