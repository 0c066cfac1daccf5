/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef INCLUDED_ARRAYCAL_SIMD_H
#define INCLUDED_ARRAYCAL_SIMD_H

// Portable SIMD for the kernels: GCC generic vectors (AVX, or two SSE/NEON
// registers; no intrinsics), and function multi-versioning on x86-64.

namespace gr {
namespace arraycal {

// Eight float lanes, loaded and stored at any float address (aligned(4)).
// Kept in named variables, not arrays: arrays of vectors live on the stack.
// Loaded by macro, not function: returning a 32-byte vector changes the ABI
// of the non-AVX clone, and GCC warns about it.
typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef int v8i __attribute__((vector_size(32)));
#define V8F_AT(p) (*reinterpret_cast<const v8f*>(p))
#define V8F_REF(p) (*reinterpret_cast<v8f*>(p))

} // namespace arraycal
} // namespace gr

// On x86-64 GCC also emits an AVX2/FMA version of a function marked so and
// picks it at load time; other targets (the Raspberry Pi's NEON) get the
// portable vectorised loop. Helpers it calls must be inlined into it (or be
// marked too), or they are compiled for the baseline target only.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ARRAYCAL_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define ARRAYCAL_CLONES
#endif

#endif
