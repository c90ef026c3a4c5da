// CaptureSource: where the capture worker's frames come from (funkhaus-vdisplay's driver ring,
// the X11 root window or a synthetic test pattern), written straight into a frame-ring slot.
// Used on the worker's main thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/result.h"
#include "funkhaus/platform/handle.h"

namespace funkhaus::capture {

enum class SourceKind { kSynthetic, kX11, kVdisplay };

struct SourceConfig {
  SourceKind kind = SourceKind::kSynthetic;
  // synthetic: the mode. x11: when `fit_to_size`, the root window is scaled down (aspect kept)
  // to fit inside width x height; otherwise it is captured at its own size.
  uint32_t width = 1920;
  uint32_t height = 1080;
  bool fit_to_size = false;
  // x11: stamp the barcode over the top-left corner (synthetic frames always carry it).
  bool stamp_barcode = false;
  // x11: draw the XFixes cursor image into the frame.
  bool compose_cursor = true;
  // x11: the display to open; empty means $DISPLAY.
  std::string display;
  // vdisplay: the driver ring (borrowed; the source keeps its own duplicate).
  platform::NativeHandle input_ring_fd = platform::kInvalidHandle;
  // vdisplay: the frame rate of the worker's grid; repeats only when the driver stalls.
  uint32_t fps = 60;
  // synthetic: 0, or the A/V sync pattern: dark frames, and a white one each time the capture
  // time passes a multiple of this many ms on CLOCK_MONOTONIC (isSyncFlash).
  uint32_t sync_flash_ms = 0;
};

struct CaptureOutcome {
  enum class Kind {
    kPublished,  // a new frame is in the ring
    kRepeated,   // nothing changed: the last frame was re-published (repeatLast)
    kDropped,    // no free slot (or nothing to repeat yet): no frame this time
    kError,      // a recoverable failure: no frame this time, see `error`
    kNothing,    // nothing due: the source's own frames keep the rate (vdisplay)
  };
  Kind kind = Kind::kDropped;
  uint64_t bytes = 0;                          // payload bytes put into the ring
  std::optional<abi::FrameGeometry> new_mode;  // the frame ring's mode changed to this
  std::string error;
  uint64_t capture_ns = 0;  // when the frame was really captured, if not at the deadline
  // kPublished: when this stage took its input (vdisplay: the driver's slot acquired); 0: when
  // capture() was called (x11, synthetic: the grab's start). The convert stage runs from here
  // to the converted slot's publication.
  uint64_t stage_start_ns = 0;
};

// Why a source could not be opened; decides the worker's exit code.
enum class SourceFailure {
  kUnsupported,  // no X server / no MIT-SHM / unusable visual: kExitUnsupported
  kBadConfig,    // the configured mode cannot work (e.g. larger than the ring slots)
  kTransient,    // anything a restart may fix
};

class CaptureSource {
 public:
  virtual ~CaptureSource() = default;

  // Captures the frame numbered `frame_number`, due at `capture_ns` (CLOCK_MONOTONIC), into
  // `producer` without blocking. Frames carry their own geometry; a mode change also goes
  // through producer.setMode(). An Error means the source is lost for good (the X connection
  // broke); the worker exits and funkhausd restarts it.
  virtual Result<CaptureOutcome> capture(FrameProducer& producer, uint64_t frame_number,
                                         uint64_t capture_ns) = 0;

  virtual const char* name() const = 0;

  // Waits until `until_ns` (CLOCK_MONOTONIC) for the next frame; true if one is ready now
  // (capture() at once), false at the deadline. Paced sources just sleep (the default); the
  // vdisplay source wakes when the driver publishes. A signal may cut the wait short.
  virtual bool waitForFrame(uint64_t until_ns);

  // The stream's frame rate changed (a GameStream client announced another); sources that pace
  // or repeat by it follow.
  virtual void setFps(uint32_t fps) { (void)fps; }

  // Opens the source for a ring whose slots hold `payload_capacity` bytes. On error,
  // `*failure` (if given) says which kind of failure it was.
  static Result<std::unique_ptr<CaptureSource>> create(const SourceConfig& config,
                                                       uint64_t payload_capacity,
                                                       SourceFailure* failure = nullptr);
};

// Largest even size with the aspect of src_width x src_height that fits inside
// max_width x max_height and whose I420 frame fits `payload_capacity` bytes; the source size
// itself (rounded down to even) when it already fits. Error when nothing fits.
Result<abi::FrameGeometry> fitI420(uint32_t src_width, uint32_t src_height, uint32_t max_width,
                                   uint32_t max_height, uint64_t payload_capacity);

// Sets the producer's mode to `geometry` if it differs (a new ring generation); returns
// whether it changed. Error if it does not fit the slots.
Result<bool> ensureMode(FrameProducer& producer, const abi::FrameGeometry& geometry);

}  // namespace funkhaus::capture
