/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <pybind11/complex.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <gnuradio/arraycal/apes_cir.h>
#include <gnuradio/arraycal/los_estimator.h>
#include <gnuradio/arraycal/los_logger.h>
#include <gnuradio/arraycal/los_receiver.h>
#include <gnuradio/arraycal/ls_chanest.h>
#include <gnuradio/arraycal/moose_cfo.h>
#include <gnuradio/arraycal/zc_sync.h>

namespace py = pybind11;
using namespace gr::arraycal;

void bind_blocks(py::module& m)
{
    py::class_<zc_sync, gr::sync_block, gr::block, gr::basic_block, std::shared_ptr<zc_sync>>(
        m, "zc_sync",
        "Frame sync over N channels with one common timing; tags arraycal_frame and "
        "gnss_time at each frame start. Output delayed by delay() samples.")
        .def(py::init(&zc_sync::make), py::arg("preamble"), py::arg("num_chans") = 1,
             py::arg("threshold") = 0.2f, py::arg("period") = 0, py::arg("track_window") = 2,
             py::arg("max_misses") = 3, py::arg("samp_rate") = 1e6,
             py::arg("gps_minus_rx_time_s") = 0.0, py::arg("segments") = 2)
        .def("set_threshold", &zc_sync::set_threshold, py::arg("threshold"))
        .def("threshold", &zc_sync::threshold)
        .def("set_gps_minus_rx_time_s", &zc_sync::set_gps_minus_rx_time_s, py::arg("seconds"))
        .def("gps_minus_rx_time_s", &zc_sync::gps_minus_rx_time_s)
        .def("delay", &zc_sync::delay)
        .def("period", &zc_sync::period)
        .def("locked", &zc_sync::locked)
        .def("frames", &zc_sync::frames)
        .def("misses", &zc_sync::misses)
        .def("reacquisitions", &zc_sync::reacquisitions);

    py::class_<moose_cfo, gr::sync_block, gr::block, gr::basic_block,
               std::shared_ptr<moose_cfo>>(
        m, "moose_cfo",
        "Moose CFO per frame, joint over channels; adds cfo_hz to the frame tag and "
        "optionally corrects all channels alike.")
        .def(py::init(&moose_cfo::make), py::arg("half_len") = 139, py::arg("num_chans") = 1,
             py::arg("samp_rate") = 1e6, py::arg("correct") = true)
        .def("set_correct", &moose_cfo::set_correct, py::arg("correct"))
        .def("correct", &moose_cfo::correct)
        .def("cfo_hz", &moose_cfo::cfo_hz)
        .def("delay", &moose_cfo::delay)
        .def("max_cfo_hz", &moose_cfo::max_cfo_hz);

    py::class_<ls_chanest, gr::block, gr::basic_block, std::shared_ptr<ls_chanest>>(
        m, "ls_chanest",
        "Per-frame LS channel estimate H = Y/X of every channel, one K-bin vector per frame.")
        .def(py::init(&ls_chanest::make), py::arg("packet"), py::arg("num_chans") = 1)
        .def("packet_len", &ls_chanest::packet_len)
        .def("frames", &ls_chanest::frames)
        .def("dropped", &ls_chanest::dropped);

    py::class_<los_estimator, gr::sync_block, gr::block, gr::basic_block,
               std::shared_ptr<los_estimator>>(
        m, "los_estimator", "LoS tap of every channel per frame, as a dict message on 'los'.")
        .def(py::init(&los_estimator::make), py::arg("packet_len"), py::arg("num_chans") = 1,
             py::arg("samp_rate") = 1e6, py::arg("method") = "fft",
             py::arg("pick") = "strongest", py::arg("zero_pad") = 1,
             py::arg("threshold_db") = -10.0, py::arg("window") = 8.0,
             py::arg("apes_len") = 200)
        .def("set_pick", &los_estimator::set_pick, py::arg("pick"))
        .def("set_threshold_db", &los_estimator::set_threshold_db, py::arg("threshold_db"))
        .def("set_window", &los_estimator::set_window, py::arg("window"))
        .def("set_predicted_delays", &los_estimator::set_predicted_delays, py::arg("delays"))
        .def("frames", &los_estimator::frames);

    // settings by name only: los_receiver_settings(num_chans=4, ...) sets
    // the fields through their properties (pybind's conversions and type
    // errors), an unknown name is a TypeError
    auto settings_from = [](const py::kwargs& kw) {
        py::object s = py::cast(los_receiver_settings());
        for (const auto& item : kw) {
            const std::string name = py::str(item.first);
            if (name.empty() || name[0] == '_' || !py::hasattr(s, name.c_str()) ||
                py::isinstance<py::function>(s.attr(name.c_str())))
                throw py::type_error("los_receiver: unknown setting '" + name + "'");
            s.attr(name.c_str()) = item.second;
        }
        return s.cast<los_receiver_settings>();
    };
    py::class_<los_receiver_settings>(
        m, "los_receiver_settings",
        "Settings of los_receiver by name, e.g. los_receiver_settings(num_chans=4, "
        "samp_rate=4e6); unknown names are an error.")
        .def(py::init(settings_from))
        .def_readwrite("num_chans", &los_receiver_settings::num_chans)
        .def_readwrite("samp_rate", &los_receiver_settings::samp_rate)
        .def_readwrite("preamble_len", &los_receiver_settings::preamble_len)
        .def_readwrite("half_len", &los_receiver_settings::half_len)
        .def_readwrite("threshold", &los_receiver_settings::threshold)
        .def_readwrite("period", &los_receiver_settings::period)
        .def_readwrite("track_window", &los_receiver_settings::track_window)
        .def_readwrite("max_misses", &los_receiver_settings::max_misses)
        .def_readwrite("gps_minus_rx_time_s", &los_receiver_settings::gps_minus_rx_time_s)
        .def_readwrite("correct_cfo", &los_receiver_settings::correct_cfo)
        .def_readwrite("method", &los_receiver_settings::method)
        .def_readwrite("pick", &los_receiver_settings::pick)
        .def_readwrite("zero_pad", &los_receiver_settings::zero_pad)
        .def_readwrite("threshold_db", &los_receiver_settings::threshold_db)
        .def_readwrite("window", &los_receiver_settings::window)
        .def_readwrite("apes_len", &los_receiver_settings::apes_len)
        .def_readwrite("batch_frames", &los_receiver_settings::batch_frames)
        .def_readwrite("batch_latency_s", &los_receiver_settings::batch_latency_s)
        .def_readwrite("workers", &los_receiver_settings::workers);

    py::class_<los_receiver, gr::sync_block, gr::block, gr::basic_block,
               std::shared_ptr<los_receiver>>(
        m, "los_receiver",
        "The whole receive chain in one block (sync, Moose CFO, LS, CIR, LoS): N streams "
        "in, LoS dicts on 'los' (one per frame, or one per batch of frames). Same results "
        "as the four blocks, without the streams between them. los_receiver(packet, "
        "settings) or los_receiver(packet, num_chans=..., ...): settings by name only.")
        .def(py::init([](const std::vector<gr_complex>& packet,
                         const los_receiver_settings& settings) {
                 return los_receiver::make(packet, settings);
             }),
             py::arg("packet"), py::arg("settings"))
        .def(py::init([settings_from](const std::vector<gr_complex>& packet,
                                      const py::kwargs& kw) {
                 return los_receiver::make(packet, settings_from(kw));
             }),
             py::arg("packet"))
        .def("set_threshold", &los_receiver::set_threshold, py::arg("threshold"))
        .def("set_gps_minus_rx_time_s", &los_receiver::set_gps_minus_rx_time_s,
             py::arg("seconds"))
        .def("gps_minus_rx_time_s", &los_receiver::gps_minus_rx_time_s)
        .def("settings", &los_receiver::settings)
        .def("workers", &los_receiver::workers)
        .def("set_correct_cfo", &los_receiver::set_correct_cfo, py::arg("correct"))
        .def("set_pick", &los_receiver::set_pick, py::arg("pick"))
        .def("set_threshold_db", &los_receiver::set_threshold_db, py::arg("threshold_db"))
        .def("set_window", &los_receiver::set_window, py::arg("window"))
        .def("set_predicted_delays", &los_receiver::set_predicted_delays, py::arg("delays"))
        .def("packet_len", &los_receiver::packet_len)
        .def("period", &los_receiver::period)
        .def("locked", &los_receiver::locked)
        .def("frames", &los_receiver::frames)
        .def("misses", &los_receiver::misses)
        .def("reacquisitions", &los_receiver::reacquisitions)
        .def("dropped", &los_receiver::dropped)
        .def("los_frames", &los_receiver::los_frames)
        .def("los_messages", &los_receiver::los_messages);

    py::class_<los_logger, gr::block, gr::basic_block, std::shared_ptr<los_logger>>(
        m, "los_logger",
        "LoS messages to a CSV log (gps_time, seq, channel, re, im, delay_s, snr_db), one "
        "row per frame and channel, appended, in the kernel's hands per message (a frame "
        "or a batch).")
        .def(py::init(&los_logger::make), py::arg("path") = "los.csv")
        .def("path", &los_logger::path)
        .def("count", &los_logger::count)
        .def("rejected", &los_logger::rejected)
        .def("lost", &los_logger::lost)
        .def("close", &los_logger::close, py::call_guard<py::gil_scoped_release>());

    py::class_<apes_cir, gr::sync_block, gr::block, gr::basic_block,
               std::shared_ptr<apes_cir>>(
        m, "apes_cir",
        "Forward-backward APES per frame: the delay window of path gains, or the LoS "
        "gain (CAPES) with a los_delay tag.")
        .def(py::init(&apes_cir::make), py::arg("packet_len"), py::arg("filter_len") = 200,
             py::arg("output") = "window", py::arg("span") = 8.0, py::arg("step") = 0.1)
        .def("output_len", &apes_cir::output_len);
}
