/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <gnuradio/arraycal/iq_converter.h>
#include <gnuradio/arraycal/sigmf_file_source.h>

namespace py = pybind11;
using namespace gr::arraycal;

void bind_sigmf(py::module& m)
{
    py::class_<iq_converter>(
        m,
        "iq_converter",
        "Interleaved multi-channel I/Q of a SigMF datatype (cf32_le, ci16_le, ci8) -> "
        "complex64 per channel; integers divided by 32767 (ci16) or 127 (ci8).")
        .def(py::init<const std::string&, unsigned>(), py::arg("datatype"), py::arg("num_chans"))
        .def("group_bytes", &iq_converter::group_bytes)
        .def("full_scale", &iq_converter::full_scale)
        .def(
            "convert",
            [](iq_converter& self, py::bytes data) {
                const std::string s = data;
                const size_t n = s.size() / self.group_bytes();
                py::array_t<std::complex<float>> out({ static_cast<size_t>(self.num_chans()), n });
                std::vector<gr_complex*> ptrs;
                for (unsigned c = 0; c < self.num_chans(); c++)
                    ptrs.push_back(reinterpret_cast<gr_complex*>(out.mutable_data(c, 0)));
                self.convert(s.data(), n, ptrs);
                return out;
            },
            py::arg("data"),
            "bytes of whole sample times -> (num_chans, n) complex64");

    py::class_<sigmf_file_source,
               gr::sync_block,
               gr::block,
               gr::basic_block,
               std::shared_ptr<sigmf_file_source>>(
        m,
        "sigmf_file_source",
        "Segments of a SigMF dataset file -> one complex stream per channel, rx_time-tagged "
        "at every segment start (use radio.recording.sigmf_source, which computes them).")
        .def(py::init(&sigmf_file_source::make),
             py::arg("path"),
             py::arg("datatype"),
             py::arg("num_chans"),
             py::arg("segment_offsets"),
             py::arg("segment_samples"),
             py::arg("segment_secs"),
             py::arg("segment_fracs"))
        .def("samples_read", &sigmf_file_source::samples_read);
}
