/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// What the bindings written by `gr_modtool add` expect: DOC(gr, arraycal,
// name[, member[, overload]]) names the docstring __doc_gr_arraycal_name_member
// that the block's NAME_pydoc.h defines.
#ifndef ARRAYCAL_PYDOC_MACROS_H
#define ARRAYCAL_PYDOC_MACROS_H

#define ARRAYCAL_DOC_CAT3(a, b, c) __doc_##a##_##b##_##c
#define ARRAYCAL_DOC_CAT4(a, b, c, d) __doc_##a##_##b##_##c##_##d
#define ARRAYCAL_DOC_CAT5(a, b, c, d, e) __doc_##a##_##b##_##c##_##d##_##e
#define ARRAYCAL_DOC_CAT6(a, b, c, d, e, f) __doc_##a##_##b##_##c##_##d##_##e##_##f
#define ARRAYCAL_DOC_PICK(_1, _2, _3, _4, _5, _6, NAME, ...) NAME
#define DOC(...)                                                                   \
    ARRAYCAL_DOC_PICK(__VA_ARGS__, ARRAYCAL_DOC_CAT6, ARRAYCAL_DOC_CAT5,           \
                      ARRAYCAL_DOC_CAT4, ARRAYCAL_DOC_CAT3, unused, unused)        \
    (__VA_ARGS__)

#endif
