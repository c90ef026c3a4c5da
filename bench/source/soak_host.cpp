// The chaos soak's funkhausd configuration and the probe's summary (soak_host.h).
#include "funkhaus/bench/soak_host.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

namespace funkhaus::bench {

namespace fs = std::filesystem;
using json = nlohmann::json;

Result<std::string> soakConfigToml(const BenchSettings& settings, const std::string& control_socket,
                                   const SoakHostOptions& options) {
  // Worker-level recovery only, without the crash-loop guards (bench/README.md "Soak").
  std::string text = hostConfigToml(settings, control_socket) +
                     "[restart]\nmax_restarts = 1000\nstable_after_ms = 0\n";
  if (options.gamestream_base_port != 0) {
    static constexpr std::string_view kOff = "[gamestream]\nenabled = false\n";
    const size_t at = text.find(kOff);
    if (at == std::string::npos)
      return makeError("the host configuration has no \"{}\" to replace", "[gamestream] enabled");
    text.replace(at, kOff.size(),
                 fmt::format("[gamestream]\nenabled = true\nbase_port = {}\n"
                             "listen_address = \"127.0.0.1\"\nname = \"funkhaus-soak\"\n"
                             "mdns = false\n",
                             options.gamestream_base_port));
  }
  if (!options.session_value.empty()) {
    for (char c : options.session_value)
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
        return makeError("session value '{}' holds a quote, backslash or control byte",
                         options.session_value);
    text += fmt::format("[session.environment]\n{} = \"{}\"\n", kSoakSessionVariable,
                        options.session_value);
  }
  return text;
}

Result<void> writeFileAtomically(const fs::path& file, const std::string& text) {
  const fs::path temporary = file.string() + ".tmp-" + std::to_string(getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    out.close();
    if (!out) return makeError("cannot write {}", temporary.string());
  }
  std::error_code ec;
  fs::rename(temporary, file, ec);
  if (ec)
    return makeError("cannot rename {} to {}: {}", temporary.string(), file.string(), ec.message());
  return {};
}

Result<ProbeSummary> parseProbeSummary(std::string_view output) {
  const size_t at = output.rfind("{\"type\":\"summary\"");
  if (at == std::string_view::npos) return makeError("the probe printed no summary line");
  std::string_view line = output.substr(at);
  line = line.substr(0, line.find('\n'));
  const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return makeError("the probe's summary is not JSON");
  ProbeSummary s;
  auto text = [&](const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto count = [&](const char* key) -> uint64_t {
    const auto it = j.find(key);
    return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
  };
  if (const auto it = j.find("connected"); it != j.end() && it->is_boolean()) s.connected = *it;
  if (const auto it = j.find("exit_code"); it != j.end() && it->is_number_integer())
    s.exit_code = it->get<int>();
  s.error = text("error");
  s.terminated_error = text("terminated_error");
  if (const auto it = j.find("terminated_error"); it != j.end() && it->is_number())
    s.terminated_error = it->dump();  // moonlight-common-c's error code
  s.frames_decoded = count("frames_decoded");
  s.frames_lost = count("frames_lost");
  s.idr_frames = count("idr_frames");
  const auto pictures = j.find("pictures");
  if (pictures != j.end() && pictures->is_object()) {
    const auto decoded = pictures->find("decoded_ns");
    if (decoded != pictures->end() && decoded->is_array())
      for (const json& t : *decoded)
        if (t.is_number_unsigned()) s.pictures_ns.push_back(t.get<uint64_t>());
  }
  std::sort(s.pictures_ns.begin(), s.pictures_ns.end());
  return s;
}

}  // namespace funkhaus::bench
