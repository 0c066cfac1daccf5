#
# Copyright 2026 gr-arraycal authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""Errors a user can act on: reported as one line, exit code 2."""


class UserError(Exception):
    """Bad input (file, option, recording, array file...): what and where, in one line."""
