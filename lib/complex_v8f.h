/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_COMPLEX_V8F_H
#define INCLUDED_ARRAYCAL_COMPLEX_V8F_H

// Four interleaved complex floats in a GCC generic vector: the compiler
// lowers them to AVX on x86-64-v3, to two SSE or NEON registers elsewhere
// (no intrinsics, so the Raspberry Pi builds the same code). Plain arrays of
// lanes in a loop get spilled to the stack; vector values stay in registers.

namespace gr {
namespace arraycal {

typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef int v8i __attribute__((vector_size(32)));

static inline v8f load_v8f(const void* p) { return *static_cast<const v8f*>(p); }
static inline void store_v8f(void* p, v8f v) { *static_cast<v8f*>(p) = v; }

#if defined(__clang__)
#define ARRAYCAL_SHUFFLE(v, a, b, c, d, e, f, g, h) \
    __builtin_shufflevector(v, v, a, b, c, d, e, f, g, h)
#else
#define ARRAYCAL_SHUFFLE(v, a, b, c, d, e, f, g, h) \
    __builtin_shuffle(v, v8i{ a, b, c, d, e, f, g, h })
#endif

//! (a0 b0, a1 b1, a2 b2, a3 b3): four complex products
static inline v8f cmul4(v8f a, v8f b)
{
    const v8f are = ARRAYCAL_SHUFFLE(a, 0, 0, 2, 2, 4, 4, 6, 6);
    const v8f aim = ARRAYCAL_SHUFFLE(a, 1, 1, 3, 3, 5, 5, 7, 7);
    const v8f bsw = ARRAYCAL_SHUFFLE(b, 1, 0, 3, 2, 5, 4, 7, 6);
    const v8f sign = { -1.0f, 1.0f, -1.0f, 1.0f, -1.0f, 1.0f, -1.0f, 1.0f };
    return are * b + sign * (aim * bsw);
}

} // namespace arraycal
} // namespace gr

#endif
