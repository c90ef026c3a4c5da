// WAV files and tone measurements for the audio tests (audio_analysis.h).
#include "funkhaus/test/audio_analysis.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numbers>

namespace funkhaus::test {

namespace {

constexpr uint16_t kFormatPcm = 1;
constexpr uint16_t kFormatFloat = 3;
constexpr uint16_t kFormatExtensible = 0xFFFE;

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// The 44-byte header of a plain (16-byte fmt chunk) WAV with `data_bytes` of samples.
std::vector<uint8_t> header(int sample_rate, int channels, WavFormat format, uint64_t data_bytes) {
  const uint16_t bytes = format == WavFormat::kFloat32 ? 4 : 2;
  const uint32_t data = static_cast<uint32_t>(std::min<uint64_t>(data_bytes, UINT32_MAX - 36));
  std::vector<uint8_t> h;
  h.reserve(44);
  h.insert(h.end(), {'R', 'I', 'F', 'F'});
  put32(h, 36 + data);
  h.insert(h.end(), {'W', 'A', 'V', 'E', 'f', 'm', 't', ' '});
  put32(h, 16);
  put16(h, format == WavFormat::kFloat32 ? kFormatFloat : kFormatPcm);
  put16(h, static_cast<uint16_t>(channels));
  put32(h, static_cast<uint32_t>(sample_rate));
  put32(h, static_cast<uint32_t>(sample_rate) * channels * bytes);
  put16(h, static_cast<uint16_t>(channels * bytes));
  put16(h, static_cast<uint16_t>(bytes * 8));
  h.insert(h.end(), {'d', 'a', 't', 'a'});
  put32(h, data);
  return h;
}

// Samples in the file's encoding, little-endian.
std::vector<uint8_t> encode(std::span<const float> x, WavFormat format) {
  std::vector<uint8_t> out;
  if (format == WavFormat::kFloat32) {
    out.resize(x.size() * 4);
    for (size_t i = 0; i < x.size(); ++i) {
      uint32_t bits = 0;
      std::memcpy(&bits, &x[i], 4);
      for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<uint8_t>(bits >> (8 * b));
    }
  } else {
    out.reserve(x.size() * 2);
    for (float v : x) {
      const double scaled = std::round(std::clamp(double{v}, -1.0, 1.0) * 32768.0);
      put16(out,
            static_cast<uint16_t>(static_cast<int16_t>(std::clamp(scaled, -32768.0, 32767.0))));
    }
  }
  return out;
}

// The Goertzel power at `hz` of already windowed samples: |X(hz)|^2.
double goertzelPower(std::span<const double> x, double hz, int sample_rate) {
  const double coeff = 2 * std::cos(2 * std::numbers::pi * hz / sample_rate);
  double s1 = 0, s2 = 0;
  for (double v : x) {
    const double s = v + coeff * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  return std::max(0.0, s1 * s1 + s2 * s2 - coeff * s1 * s2);
}

// x times a periodic Hann window, and the window's sum.
std::vector<double> hann(std::span<const float> x, double& window_sum) {
  std::vector<double> out(x.size());
  window_sum = 0;
  const double n = static_cast<double>(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double w = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * static_cast<double>(i) / n);
    window_sum += w;
    out[i] = w * x[i];
  }
  return out;
}

double dbfs(double linear) { return linear > 0 ? 20 * std::log10(linear) : kSilenceDbfs; }

}  // namespace

std::vector<float> PcmAudio::channel(int c) const {
  std::vector<float> out;
  if (c < 0 || c >= channels) return out;
  out.reserve(frames());
  for (size_t i = static_cast<size_t>(c); i < samples.size(); i += static_cast<size_t>(channels))
    out.push_back(samples[i]);
  return out;
}

Result<PcmAudio> readWav(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError("{}: cannot open: {}", path, std::strerror(errno));
  const std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (file.size() < 12 || std::memcmp(file.data(), "RIFF", 4) != 0 ||
      std::memcmp(file.data() + 8, "WAVE", 4) != 0)
    return makeError("{}: not a RIFF/WAVE file ({} bytes)", path, file.size());
  std::optional<uint16_t> format;
  uint16_t channels = 0, bits = 0, block_align = 0;
  uint32_t rate = 0;
  size_t at = 12;
  while (at + 8 <= file.size()) {
    const uint8_t* chunk = file.data() + at;
    const uint32_t size = le32(chunk + 4);
    const size_t body = at + 8;
    if (std::memcmp(chunk, "fmt ", 4) == 0) {
      if (size < 16 || body + size > file.size())
        return makeError("{}: fmt chunk of {} bytes", path, size);
      const uint8_t* f = file.data() + body;
      format = le16(f);
      channels = le16(f + 2);
      rate = le32(f + 4);
      block_align = le16(f + 12);
      bits = le16(f + 14);
      if (*format == kFormatExtensible) {
        if (size < 40) return makeError("{}: WAVE_FORMAT_EXTENSIBLE fmt of {} bytes", path, size);
        format = le16(f + 24);  // the sub-format GUID's first two bytes
      }
    } else if (std::memcmp(chunk, "data", 4) == 0) {
      if (!format) return makeError("{}: data before fmt", path);
      const bool s16 = *format == kFormatPcm && bits == 16;
      const bool f32 = *format == kFormatFloat && bits == 32;
      if (!s16 && !f32)
        return makeError("{}: format {} with {} bits (16-bit PCM or 32-bit float only)", path,
                         *format, bits);
      if (channels == 0 || rate == 0 || block_align != channels * (bits / 8))
        return makeError("{}: {} channels at {} Hz, block {}", path, channels, rate, block_align);
      size_t bytes = size;
      if (size == 0 || body + bytes > file.size()) bytes = file.size() - body;  // unpatched
      bytes -= bytes % block_align;
      PcmAudio audio;
      audio.sample_rate = static_cast<int>(rate);
      audio.channels = channels;
      const uint8_t* d = file.data() + body;
      if (s16) {
        audio.samples.resize(bytes / 2);
        for (size_t i = 0; i < audio.samples.size(); ++i)
          audio.samples[i] = static_cast<float>(static_cast<int16_t>(le16(d + 2 * i)) / 32768.0);
      } else {
        audio.samples.resize(bytes / 4);
        for (size_t i = 0; i < audio.samples.size(); ++i) {
          const uint32_t v = le32(d + 4 * i);
          std::memcpy(&audio.samples[i], &v, 4);
        }
      }
      return audio;
    }
    at = body + size + (size & 1);
  }
  return makeError("{}: no {} chunk", path, format ? "data" : "fmt");
}

Result<void> writeWav(const std::string& path, const PcmAudio& audio, WavFormat format) {
  WavWriter writer;
  if (auto opened = writer.open(path, audio.sample_rate, audio.channels, format); !opened)
    return opened;
  if (auto appended = writer.append(audio.samples); !appended) return appended;
  return writer.close();
}

WavWriter::~WavWriter() { (void)close(); }

Result<void> WavWriter::open(const std::string& path, int sample_rate, int channels,
                             WavFormat format) {
  if (file_ != nullptr) return makeError("{}: a WAV is already open", path);
  if (channels <= 0 || channels > 64 || sample_rate <= 0)
    return makeError("{}: {} channels at {} Hz", path, channels, sample_rate);
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) return makeError("{}: cannot create: {}", path, std::strerror(errno));
  sample_rate_ = sample_rate;
  channels_ = channels;
  format_ = format;
  frames_ = 0;
  const std::vector<uint8_t> h = header(sample_rate, channels, format, 0);
  if (std::fwrite(h.data(), 1, h.size(), file_) != h.size())
    return makeError("{}: write failed", path);
  return {};
}

Result<void> WavWriter::append(std::span<const float> interleaved) {
  if (file_ == nullptr) return makeError("WavWriter: not open");
  if (interleaved.size() % static_cast<size_t>(channels_) != 0)
    return makeError("WavWriter: {} samples are no whole frames of {} channels", interleaved.size(),
                     channels_);
  const std::vector<uint8_t> bytes = encode(interleaved, format_);
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
    return makeError("WavWriter: write failed");
  frames_ += interleaved.size() / static_cast<size_t>(channels_);
  return {};
}

Result<void> WavWriter::close() {
  if (file_ == nullptr) return {};
  const uint64_t bytes =
      frames_ * static_cast<uint64_t>(channels_) * (format_ == WavFormat::kFloat32 ? 4 : 2);
  const std::vector<uint8_t> h = header(sample_rate_, channels_, format_, bytes);
  bool ok =
      std::fseek(file_, 0, SEEK_SET) == 0 && std::fwrite(h.data(), 1, h.size(), file_) == h.size();
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  if (!ok) return makeError("WavWriter: finishing the header failed");
  return {};
}

double rmsDbfs(std::span<const float> x) {
  if (x.empty()) return kSilenceDbfs;
  double sum = 0;
  for (float v : x) sum += double{v} * v;
  return dbfs(std::sqrt(sum / static_cast<double>(x.size())));
}

double peakDbfs(std::span<const float> x) {
  double peak = 0;
  for (float v : x) peak = std::max(peak, std::fabs(double{v}));
  return dbfs(peak);
}

double sineDbfs(double amplitude) { return dbfs(amplitude / std::numbers::sqrt2); }

double toneAmplitude(std::span<const float> x, double hz, int sample_rate) {
  if (x.empty()) return 0;
  double window_sum = 0;
  const std::vector<double> w = hann(x, window_sum);
  return 2 * std::sqrt(goertzelPower(w, hz, sample_rate)) / window_sum;
}

std::optional<double> dominantFrequency(std::span<const float> x, int sample_rate, double min_hz,
                                        double max_hz) {
  if (x.size() < 64 || sample_rate <= 0) return std::nullopt;
  const size_t n = std::min(x.size(), kDominantWindow);
  const std::span<const float> middle = x.subspan((x.size() - n) / 2, n);
  double window_sum = 0;
  const std::vector<double> w = hann(middle, window_sum);
  const double nyquist = sample_rate / 2.0;
  if (max_hz <= 0 || max_hz > nyquist) max_hz = nyquist;
  min_hz = std::max(min_hz, 0.0);
  const double bin = static_cast<double>(sample_rate) / static_cast<double>(n);
  const auto first = static_cast<int64_t>(std::ceil(min_hz / bin));
  const auto last = static_cast<int64_t>(std::floor(max_hz / bin));
  if (last < first) return std::nullopt;
  int64_t best = first;
  double best_power = -1;
  for (int64_t k = first; k <= last; ++k) {
    const double p = goertzelPower(w, static_cast<double>(k) * bin, sample_rate);
    if (p > best_power) {
      best_power = p;
      best = k;
    }
  }
  if (best_power <= 0) return std::nullopt;
  // The peak of a single tone's windowed spectrum is at its frequency: golden-section search for
  // the maximum within a bin either side of the best one, clamped to the range.
  auto power = [&](double hz) { return goertzelPower(w, hz, sample_rate); };
  double lo = std::max(min_hz, (static_cast<double>(best) - 1) * bin);
  double hi = std::min(max_hz, (static_cast<double>(best) + 1) * bin);
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = hi - g * (hi - lo), b = lo + g * (hi - lo);
  double pa = power(a), pb = power(b);
  for (int i = 0; i < 40 && hi - lo > 1e-6; ++i) {
    if (pa < pb) {
      lo = a;
      a = b;
      pa = pb;
      b = lo + g * (hi - lo);
      pb = power(b);
    } else {
      hi = b;
      b = a;
      pb = pa;
      a = hi - g * (hi - lo);
      pa = power(a);
    }
  }
  return (lo + hi) / 2;
}

std::optional<size_t> firstSampleAbove(std::span<const float> x, double threshold_dbfs,
                                       size_t from) {
  const double threshold = std::pow(10.0, threshold_dbfs / 20);
  for (size_t i = from; i < x.size(); ++i)
    if (std::fabs(double{x[i]}) > threshold) return i;
  return std::nullopt;
}

std::optional<size_t> lastSampleAbove(std::span<const float> x, double threshold_dbfs, size_t to) {
  const double threshold = std::pow(10.0, threshold_dbfs / 20);
  for (size_t i = std::min(to, x.size()); i > 0; --i)
    if (std::fabs(double{x[i - 1]}) > threshold) return i - 1;
  return std::nullopt;
}

bool isSilent(std::span<const float> x, size_t from, size_t to, double max_dbfs) {
  to = std::min(to, x.size());
  if (from >= to) return true;
  return peakDbfs(x.subspan(from, to - from)) <= max_dbfs;
}

std::optional<ToneSpan> findTone(std::span<const float> x, int sample_rate, double threshold_dbfs) {
  const auto first = firstSampleAbove(x, threshold_dbfs);
  if (!first) return std::nullopt;
  ToneSpan tone;
  tone.start = *first;
  tone.end = *lastSampleAbove(x, threshold_dbfs) + 1;
  const size_t trim = (tone.end - tone.start) / 10;
  const std::span<const float> middle =
      x.subspan(tone.start + trim, tone.end - tone.start - 2 * trim);
  tone.dominant_hz = dominantFrequency(middle, sample_rate).value_or(0.0);
  tone.level_dbfs = rmsDbfs(middle);
  return tone;
}

}  // namespace funkhaus::test
