// funkhaus-encode: thin main; the worker lives in the funkhaus_encode library.
#include <cstdio>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/encode/encode_worker.h"

#if defined(__SANITIZE_ADDRESS__)
// LeakSanitizer: libx265 3.5 leaks buffers it allocates inside x265_encoder_open and never
// frees in x265_encoder_close; not ours.
extern "C" const char* __lsan_default_suppressions() { return "leak:libx265.so\n"; }
#endif

int main(int argc, char** argv) {
  auto args = funkhaus::encode::parseArguments(argc, argv);
  if (!args) {
    std::fprintf(stderr, "funkhaus-encode: %s\n", args.error().message.c_str());
    return funkhaus::abi::kExitBadConfig;
  }
  if (args->help) {
    std::fputs(args->help_text.c_str(), stdout);
    return funkhaus::abi::kExitStopped;
  }
  return funkhaus::encode::runEncodeWorker(args->config, args->repeats);
}
