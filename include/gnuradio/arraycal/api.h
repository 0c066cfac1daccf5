/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_API_H
#define INCLUDED_ARRAYCAL_API_H

#include <gnuradio/attributes.h>

#ifdef gnuradio_arraycal_EXPORTS
#define ARRAYCAL_API __GR_ATTR_EXPORT
#else
#define ARRAYCAL_API __GR_ATTR_IMPORT
#endif

#endif /* INCLUDED_ARRAYCAL_API_H */
