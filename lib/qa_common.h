/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// Minimal C++ QA helpers: each check prints what failed and counts it.
#ifndef INCLUDED_ARRAYCAL_QA_COMMON_H
#define INCLUDED_ARRAYCAL_QA_COMMON_H

#include <cstdio>
#include <string>

namespace qa {
inline int& failures()
{
    static int n = 0;
    return n;
}
inline int& checks()
{
    static int n = 0;
    return n;
}
inline void check(bool ok, const std::string& what)
{
    checks()++;
    if (!ok) {
        failures()++;
        std::printf("FAIL: %s\n", what.c_str());
    }
}
inline int finish(const char* name)
{
    std::printf("%s: %d passed, %d failed\n", name, checks() - failures(), failures());
    return failures() == 0 ? 0 : 1;
}
} // namespace qa

#endif
