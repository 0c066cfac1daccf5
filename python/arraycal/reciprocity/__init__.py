#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Reciprocity calibration of distributed nodes (Jiang et al.): two-step
ML-TLS, the Argos and TLS baselines, the CRLB, phase tracking and per-node
offsets (the library, re-exported here), and the message blocks (.blocks)."""

from .core import (  # noqa: F401
    C, ALGORITHMS, Calibration, PhaseTracker, ReciprocitySim, argos, argos_mean,
    beamforming_gain_db, compare, crlb_phase_deg, downlink_from_uplink, equivalent_channel,
    estimate, frequency_offsets, ml_pair, ml_tls, node_offsets, phase_errors_deg, pilot_phase,
    tls, tls_from_pairs)
