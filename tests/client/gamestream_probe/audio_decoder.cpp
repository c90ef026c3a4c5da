// gamestream_probe's Opus decoder (audio_decoder.h).
#include "audio_decoder.h"

#include <opus.h>
#include <opus_multistream.h>

namespace funkhaus::probe {

namespace {
// The longest Opus packet: 120 ms at 48 kHz.
constexpr int kMaxFrameSamples = 5760;
}  // namespace

Result<std::unique_ptr<AudioDecoder>> AudioDecoder::create(const OpusLayout& layout,
                                                           const std::string& wav_path) {
  if (layout.channels < 1 || layout.channels > 8 || layout.streams < 1 ||
      layout.coupled_streams < 0 || layout.coupled_streams > layout.streams ||
      layout.samples_per_frame <= 0 || layout.samples_per_frame > kMaxFrameSamples)
    return makeError(
        "audio: unusable Opus layout: {} channels, {} streams ({} coupled), {} "
        "samples per frame",
        layout.channels, layout.streams, layout.coupled_streams, layout.samples_per_frame);
  std::unique_ptr<AudioDecoder> d(new AudioDecoder());
  d->layout_ = layout;
  int error = OPUS_OK;
  d->decoder_ =
      opus_multistream_decoder_create(layout.sample_rate, layout.channels, layout.streams,
                                      layout.coupled_streams, layout.mapping.data(), &error);
  if (d->decoder_ == nullptr || error != OPUS_OK)
    return makeError("audio: opus_multistream_decoder_create: {}", opus_strerror(error));
  d->pcm_.resize(static_cast<size_t>(kMaxFrameSamples) * static_cast<size_t>(layout.channels));
  if (!wav_path.empty()) {
    if (auto opened = d->wav_.open(wav_path, layout.sample_rate, layout.channels); !opened)
      return opened.error();
  }
  return d;
}

AudioDecoder::~AudioDecoder() {
  (void)close();
  if (decoder_ != nullptr) opus_multistream_decoder_destroy(decoder_);
}

Result<int> AudioDecoder::decode(const unsigned char* data, int length) {
  const bool lost = data == nullptr || length <= 0;
  const int n =
      opus_multistream_decode_float(decoder_, lost ? nullptr : data, lost ? 0 : length, pcm_.data(),
                                    lost ? layout_.samples_per_frame : kMaxFrameSamples, 0);
  if (n < 0) return makeError("opus_multistream_decode_float: {}", opus_strerror(n));
  samples_ += static_cast<uint64_t>(n);
  if (wav_.isOpen()) {
    auto written = wav_.append(std::span<const float>(
        pcm_.data(), static_cast<size_t>(n) * static_cast<size_t>(layout_.channels)));
    if (!written) return written.error();
  }
  return n;
}

Result<void> AudioDecoder::close() { return wav_.close(); }

}  // namespace funkhaus::probe
