// The capture sources Windows does not have (yet): X11 and the vdisplay driver's ring. Real
// Windows capture (Desktop Duplication, Windows.Graphics.Capture, an IddCx driver publishing into
// the driver ring) is a later issue; until then these say so, and the worker exits unsupported.
#include "sources.h"

namespace funkhaus::capture {

Result<std::unique_ptr<CaptureSource>> createVdisplaySource(const SourceConfig&, uint64_t,
                                                            SourceFailure* failure) {
  *failure = SourceFailure::kUnsupported;
  return makeError(
      "the vdisplay source needs the virtual display driver, which Windows "
      "does not have yet: use --source synthetic");
}

Result<std::unique_ptr<CaptureSource>> createX11Source(const SourceConfig&, uint64_t,
                                                       SourceFailure* failure) {
  *failure = SourceFailure::kUnsupported;
  return makeError(
      "there is no X11 on Windows, and no Windows capture yet: use --source "
      "synthetic");
}

}  // namespace funkhaus::capture
