/* -*- c++ -*- */
/*
 * Copyright 2026 gr-arraycal authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sigmf_file_source_impl.h"
#include <gnuradio/io_signature.h>
#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace gr {
namespace arraycal {

namespace {
constexpr size_t max_read_bytes = 4u << 20;
}

sigmf_file_source::sptr sigmf_file_source::make(const std::string& path,
                                                const std::string& datatype,
                                                unsigned num_chans,
                                                const std::vector<uint64_t>& segment_offsets,
                                                const std::vector<uint64_t>& segment_samples,
                                                const std::vector<uint64_t>& segment_secs,
                                                const std::vector<double>& segment_fracs)
{
    return gnuradio::make_block_sptr<sigmf_file_source_impl>(path,
                                                             datatype,
                                                             num_chans,
                                                             segment_offsets,
                                                             segment_samples,
                                                             segment_secs,
                                                             segment_fracs);
}

sigmf_file_source_impl::sigmf_file_source_impl(const std::string& path,
                                               const std::string& datatype,
                                               unsigned num_chans,
                                               const std::vector<uint64_t>& segment_offsets,
                                               const std::vector<uint64_t>& segment_samples,
                                               const std::vector<uint64_t>& segment_secs,
                                               const std::vector<double>& segment_fracs)
    : gr::sync_block("sigmf_file_source",
                     gr::io_signature::make(0, 0, 0),
                     gr::io_signature::make(num_chans, num_chans, sizeof(gr_complex))),
      d_conv(datatype, num_chans),
      d_offsets(segment_offsets),
      d_samples(segment_samples),
      d_secs(segment_secs),
      d_fracs(segment_fracs),
      d_key(pmt::intern("rx_time"))
{
    const size_t n = d_offsets.size();
    if (d_samples.size() != n || d_secs.size() != n || d_fracs.size() != n)
        throw std::invalid_argument("sigmf_file_source: segment lists of unequal length");
    d_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (d_fd < 0)
        throw std::runtime_error("sigmf_file_source: cannot open " + path + ": " +
                                 std::strerror(errno));
    d_max_chunk = std::max<size_t>(1, max_read_bytes / d_conv.group_bytes());
    d_out.resize(num_chans);
    // rx_time tags are absolute: nothing is gained by propagating upstream tags
    set_tag_propagation_policy(TPP_DONT);
}

sigmf_file_source_impl::~sigmf_file_source_impl()
{
    if (d_fd >= 0)
        ::close(d_fd);
}

int sigmf_file_source_impl::work(int noutput_items,
                                 gr_vector_const_void_star& input_items,
                                 gr_vector_void_star& output_items)
{
    while (d_seg < d_offsets.size() && d_in_seg >= d_samples[d_seg]) {
        d_seg++; // empty segments
        d_in_seg = 0;
    }
    if (d_seg >= d_offsets.size())
        return WORK_DONE;
    const size_t group = d_conv.group_bytes();
    size_t n = std::min<uint64_t>({ static_cast<uint64_t>(noutput_items),
                                    d_samples[d_seg] - d_in_seg,
                                    static_cast<uint64_t>(d_max_chunk) });
    const size_t want = n * group;
    if (d_buf.size() < want)
        d_buf.resize(want);
    size_t got = 0;
    const off_t base = static_cast<off_t>(d_offsets[d_seg] + d_in_seg * group);
    while (got < want) {
        const ssize_t r = ::pread(d_fd, d_buf.data() + got, want - got, base + got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; // end of file (it shrank) or a read error: the stream ends here
        got += static_cast<size_t>(r);
    }
    n = got / group;
    if (n == 0)
        return WORK_DONE;
    if (d_in_seg == 0) {
        const pmt::pmt_t t =
            pmt::make_tuple(pmt::from_uint64(d_secs[d_seg]), pmt::from_double(d_fracs[d_seg]));
        for (size_t c = 0; c < output_items.size(); c++)
            add_item_tag(static_cast<unsigned>(c), nitems_written(0), d_key, t, alias_pmt());
    }
    for (size_t c = 0; c < output_items.size(); c++)
        d_out[c] = static_cast<gr_complex*>(output_items[c]);
    d_conv.convert(d_buf.data(), n, d_out);
    d_in_seg += n;
    d_read += n;
    if (got < want) { // the file ended inside this segment: nothing after it is readable
        d_seg = d_offsets.size();
    }
    return static_cast<int>(n);
}

} // namespace arraycal
} // namespace gr
