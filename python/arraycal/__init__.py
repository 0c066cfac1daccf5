#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""In-situ calibration of antenna arrays with software radios.

C++ blocks: zc_sync, moose_cfo, ls_chanest, los_estimator, apes_cir; los_receiver
(the four stages in one block, what rx_chain uses); los_logger (LoS messages to CSV).
C++ kernels (same code as the blocks): preamble_correlator, moose_estimator,
ls_estimator, cir_los, apes_estimator, dft; apes(x, L, nfft).
Python: waveform, geometry, gnss, offsets, calstore, reciprocity, sensing, blocks.
"""

from .arraycal_python import *  # noqa: F401,F403  (C++ blocks and kernels)
from .version import __version__  # noqa: F401
from .radio.waveform import (  # noqa: F401
    zadoff_chu, packet, preamble, spectrum, WaveformSpec, DEFAULT_SPEC)
from .radio.apes import apes  # noqa: F401
from .errors import UserError  # noqa: F401
from .radio.tx import packet_source, tx_sink  # noqa: F401
from .radio.rx_chain import rx_chain  # noqa: F401
from .gnss.source import gnss_source  # noqa: F401
from .calibration.apply import calibration_apply  # noqa: F401
from .sim.emulator import channel_emulator  # noqa: F401
from .radio.rx import rx_source, sigmf_sink, ubx_pdu_decoder  # noqa: F401
from .calibration.live import offset_estimator  # noqa: F401
from .radio.multihost import los_publisher, los_aligner  # noqa: F401
from .reciprocity.blocks import (reciprocity_calibrator, reciprocity_tracker,  # noqa: F401
                                 reciprocity_logger, reciprocity_node_sim)
from .sensing.blocks import sensing_range_doppler, sensing_link_sim  # noqa: F401
