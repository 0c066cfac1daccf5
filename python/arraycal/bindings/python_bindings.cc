/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// Hand-written bindings: the docstrings live here, next to the signatures.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_kernels(py::module& m);
void bind_blocks(py::module& m);
void bind_sigmf(py::module& m);

PYBIND11_MODULE(arraycal_python, m)
{
    // base classes of the blocks
    py::module::import("gnuradio.gr");
    bind_kernels(m);
    bind_blocks(m);
    bind_sigmf(m);
}
