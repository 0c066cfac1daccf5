/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
// The DSP kernels, bound so that Python (tests, offline tools) runs exactly
// the code the blocks run.
#include <pybind11/complex.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <gnuradio/arraycal/apes.h>
#include <gnuradio/arraycal/channel_model.h>
#include <gnuradio/arraycal/cir_los.h>
#include <gnuradio/arraycal/dft.h>
#include <gnuradio/arraycal/ls_estimator.h>
#include <gnuradio/arraycal/moose_estimator.h>
#include <gnuradio/arraycal/preamble_correlator.h>

namespace py = pybind11;
using namespace gr::arraycal;

using carr = py::array_t<gr_complex, py::array::c_style | py::array::forcecast>;
using zarr = py::array_t<std::complex<double>, py::array::c_style | py::array::forcecast>;

static std::vector<const gr_complex*> rows(const carr& a, int need)
{
    if (a.ndim() != 2)
        throw std::invalid_argument("expected a 2-D array (channels, samples)");
    if (a.shape(1) < need)
        throw std::invalid_argument("not enough samples per channel");
    std::vector<const gr_complex*> p;
    for (ssize_t c = 0; c < a.shape(0); ++c)
        p.push_back(a.data(c, 0));
    return p;
}

void bind_kernels(py::module& m)
{
    m.def("fast_fft_size", &fast_fft_size, py::arg("n"),
          "Smallest length >= n with no prime factor above 5.");

    py::class_<dft>(m, "dft", "DFT of any length (Bluestein for large prime factors).")
        .def(py::init<int, bool>(), py::arg("length"), py::arg("forward") = true)
        .def("uses_bluestein", &dft::uses_bluestein)
        .def(
            "execute",
            [](dft& self, carr x) {
                if (x.ndim() != 1 || x.shape(0) != self.length())
                    throw std::invalid_argument("input length must equal the DFT length");
                carr out(self.length());
                self.execute(x.data(), out.mutable_data());
                return out;
            },
            py::arg("x"));

    py::class_<preamble_correlator>(
        m, "preamble_correlator",
        "Normalised, DC-free joint correlation metric of N channels (0..1), "
        "segments combined non-coherently.")
        .def(py::init<const std::vector<gr_complex>&, int, int>(), py::arg("preamble"),
             py::arg("segments") = 1, py::arg("fft_len") = 0)
        .def("length", &preamble_correlator::length)
        .def("segments", &preamble_correlator::segments)
        .def(
            "metric",
            [](preamble_correlator& self, carr x) {
                // x: (channels, samples); one metric per full-preamble start
                const int L = self.length();
                const int n = static_cast<int>(x.shape(1)) - L + 1;
                auto p = rows(x, L);
                py::array_t<float> out(n);
                self.metric_block(p, n, out.mutable_data());
                return out;
            },
            py::arg("x"), "Metric of every start in x (channels, samples).")
        .def(
            "metric_at",
            [](preamble_correlator& self, carr x, int offset) {
                auto p = rows(x, offset + self.length());
                return self.metric_at(p, offset);
            },
            py::arg("x"), py::arg("offset"))
        .def(
            "metric_range",
            [](preamble_correlator& self, carr x, int offset, int count) {
                if (offset < 0 || count < 1)
                    throw std::invalid_argument("need offset >= 0 and count >= 1");
                auto p = rows(x, offset + count + self.length() - 1);
                py::array_t<float> out(count);
                self.metric_range(p, offset, count, out.mutable_data());
                return out;
            },
            py::arg("x"), py::arg("offset"), py::arg("count"),
            "Metric of the count starts from offset (the tracking path).");

    py::class_<moose_estimator>(m, "moose_estimator",
                                "Moose CFO from two identical halves, joint over channels.")
        .def(py::init<int, double>(), py::arg("half_len"), py::arg("samp_rate"))
        .def("max_cfo_hz", &moose_estimator::max_cfo_hz)
        .def(
            "estimate",
            [](moose_estimator& self, carr x) {
                return self.estimate(rows(x, 2 * self.half_len()));
            },
            py::arg("x"), "CFO in Hz from x (channels, >= 2P samples from the frame start).");

    py::class_<ls_estimator>(m, "ls_estimator", "Least-squares CFR over one packet, H = Y/X.")
        .def(py::init<const std::vector<gr_complex>&>(), py::arg("packet"))
        .def("length", &ls_estimator::length)
        .def("noise_gain", &ls_estimator::noise_gain)
        .def("spectrum_floor_db", &ls_estimator::spectrum_floor_db)
        .def("spectrum", [](ls_estimator& self) {
            const auto& s = self.spectrum();
            carr out(s.size());
            std::copy(s.begin(), s.end(), out.mutable_data());
            return out;
        })
        .def(
            "estimate",
            [](ls_estimator& self, carr y) {
                if (y.ndim() != 1 || y.shape(0) < self.length())
                    throw std::invalid_argument("need one packet of samples");
                carr out(self.length());
                self.estimate(y.data(), out.mutable_data());
                return out;
            },
            py::arg("y"));

    py::class_<los_estimate>(m, "los_estimate")
        .def_readonly("gain", &los_estimate::gain)
        .def_readonly("delay", &los_estimate::delay)
        .def_readonly("snr_db", &los_estimate::snr_db)
        .def_readonly("noise_var", &los_estimate::noise_var)
        .def_readonly("valid", &los_estimate::valid)
        .def("__repr__", [](const los_estimate& e) {
            return "los_estimate(gain=" + py::repr(py::cast(e.gain)).cast<std::string>() +
                   ", delay=" + std::to_string(e.delay) + ", snr_db=" +
                   std::to_string(e.snr_db) + ")";
        });

    py::class_<cir_los>(m, "cir_los",
                        "CIR on a centred grid and the LoS tap (unbiased phase).")
        .def(py::init([](int K, int zero_pad, const std::string& pick, double thr, double win) {
                 return std::make_unique<cir_los>(K, zero_pad, los_pick_from_string(pick), thr,
                                                  win);
             }),
             py::arg("K"), py::arg("zero_pad") = 1, py::arg("pick") = "strongest",
             py::arg("threshold_db") = -10.0, py::arg("window") = 8.0)
        .def("grid_size", &cir_los::grid_size)
        .def("grid_step", &cir_los::grid_step)
        .def("set_apes", &cir_los::set_apes, py::arg("filter_len"), py::arg("apes_span") = 1.0,
             py::arg("apes_step") = 0.1)
        .def(
            "cir",
            [](cir_los& self, carr H) {
                if (H.ndim() != 1 || H.shape(0) != self.length())
                    throw std::invalid_argument("H must have K bins");
                carr out(self.grid_size());
                self.cir(H.data(), out.mutable_data());
                return out;
            },
            py::arg("H"))
        .def(
            "evaluate",
            [](cir_los& self, carr H, double t) {
                if (H.ndim() != 1 || H.shape(0) != self.length())
                    throw std::invalid_argument("H must have K bins");
                return self.evaluate(H.data(), t);
            },
            py::arg("H"), py::arg("t"))
        .def(
            "estimate",
            [](cir_los& self, carr H, double predicted) {
                if (H.ndim() != 1 || H.shape(0) != self.length())
                    throw std::invalid_argument("H must have K bins");
                return self.estimate(H.data(), predicted);
            },
            py::arg("H"), py::arg("predicted_delay") = 0.0);

    py::class_<apes>(m, "apes_estimator", "Forward-backward APES (fast, exact).")
        .def(py::init<int, int>(), py::arg("n"), py::arg("filter_len"))
        .def(
            "fit",
            [](apes& self, zarr x) {
                if (x.ndim() != 1 || x.shape(0) != self.length())
                    throw std::invalid_argument("x must have N samples");
                self.fit(x.data());
            },
            py::arg("x"))
        .def("amplitude", &apes::amplitude, py::arg("w"))
        .def(
            "amplitudes",
            [](apes& self, py::array_t<double, py::array::c_style | py::array::forcecast> w) {
                zarr out(w.size());
                self.amplitudes(w.data(), static_cast<int>(w.size()), out.mutable_data());
                return out;
            },
            py::arg("w"))
        .def(
            "capon",
            [](apes& self, py::array_t<double, py::array::c_style | py::array::forcecast> w) {
                py::array_t<double> out(w.size());
                self.capon(w.data(), static_cast<int>(w.size()), out.mutable_data());
                return out;
            },
            py::arg("w"))
        .def(
            "spectrum",
            [](apes& self, int nfft) {
                zarr out(nfft);
                {
                    py::gil_scoped_release release;
                    self.spectrum(nfft, out.mutable_data());
                }
                return out;
            },
            py::arg("nfft"))
        .def("regularised", &apes::regularised)
        .def("loading", &apes::loading)
        .def("zero_data", &apes::zero_data);

    py::class_<channel_model>(
        m, "channel_model",
        "The channel emulator's sample work: per element and path gains and delays on "
        "the centred DFT grid of each packet, elements summed onto channels, the common "
        "LO (carrier offset, phase-noise walk) and AWGN.")
        .def(py::init<int, const std::vector<int>&, int, int, double, double, float,
                      uint64_t>(),
             py::arg("packet_len"), py::arg("element_channel"), py::arg("num_channels"),
             py::arg("num_paths"), py::arg("cfo"), py::arg("phase_noise"),
             py::arg("noise_sigma"), py::arg("seed"))
        .def("packet_len", &channel_model::packet_len)
        .def("num_channels", &channel_model::num_channels)
        .def("set_noise_sigma", &channel_model::set_noise_sigma, py::arg("sigma"))
        .def(
            "process",
            [](channel_model& self, carr x,
               py::array_t<gr_complex, py::array::c_style | py::array::forcecast> gains,
               py::array_t<double, py::array::c_style | py::array::forcecast> delays,
               uint64_t start, py::list outs) {
                const int K = self.packet_len();
                if (x.ndim() != 1 || x.shape(0) % K != 0)
                    throw std::invalid_argument("x must hold whole packets");
                const int B = static_cast<int>(x.shape(0) / K);
                const ssize_t need =
                    static_cast<ssize_t>(B) * self.num_elements() * self.num_paths();
                if (gains.size() != need || delays.size() != need)
                    throw std::invalid_argument(
                        "gains and delays: (packets, elements, paths) values");
                if (static_cast<int>(outs.size()) != self.num_channels())
                    throw std::invalid_argument("one output array per channel");
                std::vector<gr_complex*> o;
                for (auto item : outs) {
                    // written in place (a converted copy would be lost): demand the
                    // exact type, contiguous and writable
                    if (!py::isinstance<py::array>(item))
                        throw std::invalid_argument("outputs: numpy arrays");
                    auto a = py::reinterpret_borrow<py::array>(item);
                    if (!a.dtype().is(py::dtype::of<gr_complex>()) ||
                        !(a.flags() & py::array::c_style) || !a.writeable() ||
                        a.size() < static_cast<ssize_t>(B) * K)
                        throw std::invalid_argument("outputs: writable, contiguous "
                                                    "complex64 arrays of len(x) samples");
                    o.push_back(static_cast<gr_complex*>(a.mutable_data()));
                }
                py::gil_scoped_release release;
                self.process(x.data(), B, gains.data(), delays.data(), start, o);
            },
            py::arg("x"), py::arg("gains"), py::arg("delays"), py::arg("start"),
            py::arg("outs"),
            "x: whole packets from absolute sample `start`; gains/delays (packets, "
            "elements, paths), delays in samples; outs: one complex64 array per channel.");
}
