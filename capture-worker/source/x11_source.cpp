// The X11 source: the root window grabbed with MIT-SHM into a capture-private memfd, converted
// to I420 by one ColourConverter pass into the ring slot; XDamage says when nothing changed
// (then the last frame is repeated), ConfigureNotify/RandR when the root was resized, XFixes
// supplies the cursor. With XDamage a screen change is grabbed as soon as it is seen, not at
// the next deadline of the frame grid: at once if a frame interval has passed since the last
// grab, else one interval after it (so grabs never come faster than the frame rate); the
// frame's capture time is when the change was seen.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xcb/damage.h>
#include <xcb/randr.h>
#include <xcb/shm.h>
#include <xcb/xcb.h>
#include <xcb/xfixes.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "funkhaus/abi/token.h"
#include "funkhaus/capture/barcode.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/media/colour.h"
#include "funkhaus/common/unique_fd.h"
#include "sources.h"

namespace funkhaus::capture {

namespace {

constexpr uint32_t kNoBound = 16384;
constexpr uint64_t kNsPerSecond = 1'000'000'000;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <class T>
using XReply = std::unique_ptr<T, FreeDeleter>;

struct CursorState {
  int16_t x = 0;
  int16_t y = 0;
  uint32_t serial = 0;
  bool valid = false;
  bool operator==(const CursorState&) const = default;
};

class X11Source : public CaptureSource {
 public:
  X11Source(const SourceConfig& config, uint64_t capacity) : config_(config), capacity_(capacity) {
    setFps(config.fps);
  }

  ~X11Source() override {
    if (conn_ == nullptr) return;
    releaseBuffer();
    if (damage_ != 0) xcb_damage_destroy(conn_, damage_);
    xcb_disconnect(conn_);
  }

  Result<void> open(SourceFailure* failure);

  Result<CaptureOutcome> capture(FrameProducer& producer, uint64_t frame_number,
                                 uint64_t capture_ns) override;

  const char* name() const override { return "x11"; }

  bool waitForFrame(uint64_t until_ns) override;

  void setFps(uint32_t fps) override {
    interval_ns_ = (kNsPerSecond + std::max<uint32_t>(fps, 1) - 1) / std::max<uint32_t>(fps, 1);
  }

 private:
  Result<void> allocateBuffer(uint32_t width, uint32_t height);
  void releaseBuffer();
  Result<void> followSize();
  void drainEvents();
  void composeCursor(const xcb_xfixes_get_cursor_image_reply_t& cursor);

  SourceConfig config_;
  uint64_t capacity_;
  xcb_connection_t* conn_ = nullptr;
  xcb_window_t root_ = 0;
  media::PixelLayout format_ = media::PixelLayout::kBgrx;
  // The capture-private grab buffer, shared with the X server only.
  xcb_shm_seg_t segment_ = 0;
  uint8_t* buffer_ = nullptr;
  size_t buffer_size_ = 0;
  uint32_t width_ = 0, height_ = 0;  // the root window's size the buffer was made for
  abi::FrameGeometry out_{};
  bool stamp_ = false;
  bool have_damage_ = false, have_xfixes_ = false, have_randr_ = false;
  uint8_t damage_event_ = 0, randr_event_ = 0;
  xcb_damage_damage_t damage_ = 0;
  bool dirty_ = true;          // damage since the last grab (or no damage extension)
  uint64_t damage_ns_ = 0;     // when the first damage since the last grab was seen; 0: none
  uint64_t last_grab_ns_ = 0;  // when the last grab started
  uint64_t interval_ns_ = 0;   // one frame interval (rounded up): the least time between grabs
  bool size_changed_ = false;  // re-query the root geometry before the next grab
  bool published_ = false;
  CursorState cursor_{};
  media::ColourConverter converter_;
};

Result<void> X11Source::open(SourceFailure* failure) {
  *failure = SourceFailure::kUnsupported;
  std::string display = config_.display;
  if (display.empty()) {
    const char* env = std::getenv("DISPLAY");
    if (env == nullptr || *env == '\0')
      return makeError("x11 source: no X display (DISPLAY is not set)");
    display = env;
  }
  int screen_number = 0;
  conn_ = xcb_connect(display.c_str(), &screen_number);
  if (int err = xcb_connection_has_error(conn_); err != 0)
    return makeError("x11 source: cannot connect to X display '{}' (xcb error {})", display, err);
  const xcb_setup_t* setup = xcb_get_setup(conn_);
  xcb_screen_iterator_t screens = xcb_setup_roots_iterator(setup);
  for (int i = 0; i < screen_number && screens.rem > 0; ++i) xcb_screen_next(&screens);
  if (screens.rem == 0)
    return makeError("x11 source: display '{}' has no screen {}", display, screen_number);
  const xcb_screen_t* screen = screens.data;
  root_ = screen->root;

  // The root must be 32 bits per pixel TrueColor with 8-bit channels.
  uint8_t bpp = 0;
  for (auto it = xcb_setup_pixmap_formats_iterator(setup); it.rem > 0; xcb_format_next(&it))
    if (it.data->depth == screen->root_depth) bpp = it.data->bits_per_pixel;
  const xcb_visualtype_t* visual = nullptr;
  for (auto d = xcb_screen_allowed_depths_iterator(screen); d.rem > 0 && !visual;
       xcb_depth_next(&d))
    for (auto v = xcb_depth_visuals_iterator(d.data); v.rem > 0; xcb_visualtype_next(&v))
      if (v.data->visual_id == screen->root_visual) visual = v.data;
  if (bpp != 32 || visual == nullptr || visual->_class != XCB_VISUAL_CLASS_TRUE_COLOR ||
      visual->red_mask != 0xFF0000 || visual->green_mask != 0xFF00 || visual->blue_mask != 0xFF)
    return makeError(
        "x11 source: root visual of depth {} ({} bits per pixel) is not 8-bit "
        "TrueColor RGB; not supported",
        screen->root_depth, bpp);
  format_ = setup->image_byte_order == XCB_IMAGE_ORDER_LSB_FIRST ? media::PixelLayout::kBgrx
                                                                 : media::PixelLayout::kXrgb;

  // MIT-SHM 1.2: the server maps a memfd we pass (never the frame ring's).
  const xcb_query_extension_reply_t* shm = xcb_get_extension_data(conn_, &xcb_shm_id);
  if (shm == nullptr || !shm->present)
    return makeError("x11 source: X display '{}' has no MIT-SHM extension", display);
  XReply<xcb_shm_query_version_reply_t> shm_version(
      xcb_shm_query_version_reply(conn_, xcb_shm_query_version(conn_), nullptr));
  if (!shm_version || shm_version->major_version < 1 ||
      (shm_version->major_version == 1 && shm_version->minor_version < 2))
    return makeError("x11 source: X display '{}' has MIT-SHM older than 1.2 (no fd passing)",
                     display);

  if (const auto* ext = xcb_get_extension_data(conn_, &xcb_damage_id); ext && ext->present) {
    XReply<xcb_damage_query_version_reply_t> v(xcb_damage_query_version_reply(
        conn_, xcb_damage_query_version(conn_, XCB_DAMAGE_MAJOR_VERSION, XCB_DAMAGE_MINOR_VERSION),
        nullptr));
    if (v) {
      have_damage_ = true;
      damage_event_ = ext->first_event;
      damage_ = xcb_generate_id(conn_);
      xcb_damage_create(conn_, damage_, root_, XCB_DAMAGE_REPORT_LEVEL_NON_EMPTY);
    }
  }
  if (!have_damage_) spdlog::warn("x11 source: no XDamage: grabbing every frame");
  if (config_.compose_cursor) {
    if (const auto* ext = xcb_get_extension_data(conn_, &xcb_xfixes_id); ext && ext->present) {
      XReply<xcb_xfixes_query_version_reply_t> v(xcb_xfixes_query_version_reply(
          conn_,
          xcb_xfixes_query_version(conn_, XCB_XFIXES_MAJOR_VERSION, XCB_XFIXES_MINOR_VERSION),
          nullptr));
      have_xfixes_ = v && v->major_version >= 1;
    }
    if (!have_xfixes_) spdlog::warn("x11 source: no XFixes: frames carry no cursor");
  }
  // Size changes: ConfigureNotify of the root, and RandR's screen change where present.
  const uint32_t mask = XCB_EVENT_MASK_STRUCTURE_NOTIFY;
  xcb_change_window_attributes(conn_, root_, XCB_CW_EVENT_MASK, &mask);
  if (const auto* ext = xcb_get_extension_data(conn_, &xcb_randr_id); ext && ext->present) {
    XReply<xcb_randr_query_version_reply_t> v(
        xcb_randr_query_version_reply(conn_, xcb_randr_query_version(conn_, 1, 2), nullptr));
    if (v) {
      have_randr_ = true;
      randr_event_ = ext->first_event;
      xcb_randr_select_input(conn_, root_, XCB_RANDR_NOTIFY_MASK_SCREEN_CHANGE);
    }
  }

  XReply<xcb_get_geometry_reply_t> geometry(
      xcb_get_geometry_reply(conn_, xcb_get_geometry(conn_, root_), nullptr));
  if (!geometry) return makeError("x11 source: cannot query the root window's size");
  const uint32_t max_w = config_.fit_to_size ? config_.width : kNoBound;
  const uint32_t max_h = config_.fit_to_size ? config_.height : kNoBound;
  auto out = fitI420(geometry->width, geometry->height, max_w, max_h, capacity_);
  if (!out) {
    *failure = SourceFailure::kBadConfig;
    return makeError("x11 source: {}", out.error().message);
  }
  if (auto allocated = allocateBuffer(geometry->width, geometry->height); !allocated)
    return allocated.error();
  out_ = *out;
  stamp_ = config_.stamp_barcode && barcodeLayout(out_.width, out_.height).ok();
  spdlog::info("x11 source: display '{}' root {}x{} -> {}x{} I420 (damage {}, cursor {}, randr {})",
               display, width_, height_, out_.width, out_.height, have_damage_, have_xfixes_,
               have_randr_);
  return {};
}

Result<void> X11Source::allocateBuffer(uint32_t width, uint32_t height) {
  releaseBuffer();
  const size_t size = size_t{width} * height * 4;
  UniqueFd fd(memfd_create("funkhaus-x11-grab", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return makeError("x11 source: memfd_create: {}", std::strerror(errno));
  if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    return makeError("x11 source: sizing the grab buffer to {} bytes: {}", size,
                     std::strerror(errno));
  // The X server gets this fd: it must not be able to shrink it under our mapping.
  if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return makeError("x11 source: sealing the grab buffer: {}", std::strerror(errno));
  void* map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return makeError("x11 source: mmap: {}", std::strerror(errno));
  const int for_server = fcntl(fd.get(), F_DUPFD_CLOEXEC, 0);  // xcb closes it once sent
  if (for_server < 0) {
    munmap(map, size);
    return makeError("x11 source: dup: {}", std::strerror(errno));
  }
  const xcb_shm_seg_t segment = xcb_generate_id(conn_);
  xcb_generic_error_t* error =
      xcb_request_check(conn_, xcb_shm_attach_fd_checked(conn_, segment, for_server, 0));
  if (error != nullptr) {
    const int code = error->error_code;
    std::free(error);
    munmap(map, size);
    return makeError(
        "x11 source: the X server cannot attach our shared memory (X error {}; a "
        "remote display?)",
        code);
  }
  segment_ = segment;
  buffer_ = static_cast<uint8_t*>(map);
  buffer_size_ = size;
  width_ = width;
  height_ = height;
  return {};
}

void X11Source::releaseBuffer() {
  if (buffer_ == nullptr) return;
  xcb_shm_detach(conn_, segment_);
  xcb_flush(conn_);
  munmap(buffer_, buffer_size_);
  buffer_ = nullptr;
  buffer_size_ = 0;
  segment_ = 0;
  width_ = height_ = 0;  // no buffer: the next followSize() makes one whatever the size
}

void X11Source::drainEvents() {
  while (xcb_generic_event_t* event = xcb_poll_for_event(conn_)) {
    const uint8_t type = event->response_type & 0x7F;
    if (type == 0) {
      spdlog::debug("x11 source: X error {}",
                    reinterpret_cast<xcb_generic_error_t*>(event)->error_code);
    } else if (have_damage_ && type == damage_event_ + XCB_DAMAGE_NOTIFY) {
      if (!dirty_) damage_ns_ = monotonicNs();
      dirty_ = true;
    } else if (type == XCB_CONFIGURE_NOTIFY) {
      const auto* c = reinterpret_cast<xcb_configure_notify_event_t*>(event);
      if (c->window == root_ && (c->width != width_ || c->height != height_)) size_changed_ = true;
    } else if (have_randr_ && type == randr_event_ + XCB_RANDR_SCREEN_CHANGE_NOTIFY) {
      size_changed_ = true;
    }
    std::free(event);
  }
}

Result<void> X11Source::followSize() {
  size_changed_ = false;
  XReply<xcb_get_geometry_reply_t> geometry(
      xcb_get_geometry_reply(conn_, xcb_get_geometry(conn_, root_), nullptr));
  if (!geometry) return makeError("cannot query the root window's size");
  if (buffer_ != nullptr && geometry->width == width_ && geometry->height == height_) return {};
  const uint32_t max_w = config_.fit_to_size ? config_.width : kNoBound;
  const uint32_t max_h = config_.fit_to_size ? config_.height : kNoBound;
  auto out = fitI420(geometry->width, geometry->height, max_w, max_h, capacity_);
  if (!out) return out.error();
  if (auto allocated = allocateBuffer(geometry->width, geometry->height); !allocated)
    return allocated.error();
  spdlog::info("x11 source: root resized to {}x{} -> {}x{} I420", width_, height_, out->width,
               out->height);
  out_ = *out;
  stamp_ = config_.stamp_barcode && barcodeLayout(out_.width, out_.height).ok();
  dirty_ = true;
  return {};
}

void X11Source::composeCursor(const xcb_xfixes_get_cursor_image_reply_t& cursor) {
  const uint32_t* pixels = xcb_xfixes_get_cursor_image_cursor_image(
      const_cast<xcb_xfixes_get_cursor_image_reply_t*>(&cursor));
  const int x0 = cursor.x - cursor.xhot;
  const int y0 = cursor.y - cursor.yhot;
  const int x_begin = std::max(0, -x0), y_begin = std::max(0, -y0);
  const int x_end = std::min<int>(cursor.width, static_cast<int>(width_) - x0);
  const int y_end = std::min<int>(cursor.height, static_cast<int>(height_) - y0);
  // Channel byte offsets of R, G, B in one pixel of the grab buffer.
  const int r = format_ == media::PixelLayout::kBgrx ? 2 : 1;
  const int g = format_ == media::PixelLayout::kBgrx ? 1 : 2;
  const int b = format_ == media::PixelLayout::kBgrx ? 0 : 3;
  for (int y = y_begin; y < y_end; ++y) {
    uint8_t* row = buffer_ + (size_t(y0 + y) * width_ + size_t(x0)) * 4;
    for (int x = x_begin; x < x_end; ++x) {
      const uint32_t p = pixels[size_t(y) * cursor.width + size_t(x)];  // premultiplied ARGB
      const uint32_t a = p >> 24;
      if (a == 0) continue;
      uint8_t* d = row + size_t(x) * 4;
      auto blend = [&](int offset, uint32_t src) {
        d[offset] =
            static_cast<uint8_t>(std::min<uint32_t>(255, src + d[offset] * (255 - a) / 255));
      };
      blend(r, (p >> 16) & 0xFF);
      blend(g, (p >> 8) & 0xFF);
      blend(b, p & 0xFF);
    }
  }
}

// Ready when the screen changed and a frame interval has passed since the last grab (then
// waits for that); without XDamage every deadline of the grid grabs, as the default wait does.
bool X11Source::waitForFrame(uint64_t until_ns) {
  if (!have_damage_) return CaptureSource::waitForFrame(until_ns);
  const int fd = xcb_get_file_descriptor(conn_);
  for (;;) {
    drainEvents();
    if (xcb_connection_has_error(conn_) != 0) return true;  // capture() reports it
    const uint64_t now = monotonicNs();
    if (dirty_) {
      const uint64_t due = last_grab_ns_ + interval_ns_;
      if (due <= now) return true;
      sleepUntilNs(std::min(due, until_ns));  // a signal may cut it short
      return monotonicNs() >= due;
    }
    if (now >= until_ns) return false;
    xcb_flush(conn_);
    pollfd p{fd, POLLIN, 0};
    const uint64_t wait = until_ns - now;
    const timespec timeout{static_cast<time_t>(wait / kNsPerSecond),
                           static_cast<long>(wait % kNsPerSecond)};
    if (ppoll(&p, 1, &timeout, nullptr) < 0) return false;  // EINTR: a signal
  }
}

Result<CaptureOutcome> X11Source::capture(FrameProducer& producer, uint64_t frame_number,
                                          uint64_t capture_ns) {
  CaptureOutcome outcome;
  drainEvents();
  if (int err = xcb_connection_has_error(conn_); err != 0)
    return makeError("x11 source: the X connection broke (xcb error {})", err);
  if (size_changed_) {
    if (auto followed = followSize(); !followed) {
      size_changed_ = true;  // try again next frame
      outcome.kind = CaptureOutcome::Kind::kError;
      outcome.error = "following a root resize: " + followed.error().message;
      return outcome;
    }
  }

  XReply<xcb_xfixes_get_cursor_image_reply_t> cursor;
  CursorState cursor_state{};
  if (have_xfixes_) {
    cursor.reset(
        xcb_xfixes_get_cursor_image_reply(conn_, xcb_xfixes_get_cursor_image(conn_), nullptr));
    if (cursor) cursor_state = {cursor->x, cursor->y, cursor->cursor_serial, true};
  }

  if (!dirty_ && cursor_state == cursor_ && published_) {
    // Nothing changed on screen: keep the stream's rate with a copy of the last frame.
    const uint64_t dropped_before = abi::atomicLoad(producer.header().dropped);
    if (auto token = producer.repeatLast(capture_ns); token && *token != abi::kNoToken) {
      outcome.kind = CaptureOutcome::Kind::kRepeated;
      outcome.bytes = producer.slot(abi::tokenSlot(*token)).payload_size;
      return outcome;
    }
    if (abi::atomicLoad(producer.header().dropped) != dropped_before) {
      outcome.kind = CaptureOutcome::Kind::kDropped;
      return outcome;
    }
    // The last frame's slot was recycled: grab a fresh one below.
  }
  // Never two grabs within one frame interval: waitForFrame() says when this one is due. The
  // grid's deadlines are an interval apart only give or take the caller's wake-up (and a
  // fallback of the vdisplay source is called at them alone): an eighth is let through.
  const uint64_t grab_ns = monotonicNs();
  if (have_damage_ && last_grab_ns_ != 0 &&
      grab_ns < last_grab_ns_ + interval_ns_ - interval_ns_ / 8) {
    outcome.kind = CaptureOutcome::Kind::kNothing;
    return outcome;
  }

  auto changed = ensureMode(producer, out_);
  if (!changed) {
    outcome.kind = CaptureOutcome::Kind::kError;
    outcome.error = changed.error().message;
    return outcome;
  }
  if (*changed) outcome.new_mode = out_;
  auto slot = producer.beginFrame();
  if (!slot) {
    outcome.kind = CaptureOutcome::Kind::kDropped;
    return outcome;
  }
  // The frame's time is when its change was seen (the grid's deadline if none was).
  const uint64_t frame_ns = damage_ns_ != 0 ? damage_ns_ : capture_ns;
  outcome.capture_ns = frame_ns;
  outcome.stage_start_ns = grab_ns;
  // Subtract before the grab: whatever is drawn from now on damages the next frame.
  if (have_damage_) xcb_damage_subtract(conn_, damage_, XCB_NONE, XCB_NONE);
  dirty_ = !have_damage_;
  damage_ns_ = 0;
  last_grab_ns_ = grab_ns;
  xcb_generic_error_t* error = nullptr;
  XReply<xcb_shm_get_image_reply_t> image(
      xcb_shm_get_image_reply(conn_,
                              xcb_shm_get_image(conn_, root_, 0, 0, static_cast<uint16_t>(width_),
                                                static_cast<uint16_t>(height_), ~0u,
                                                XCB_IMAGE_FORMAT_Z_PIXMAP, segment_, 0),
                              &error));
  if (!image) {
    producer.cancel(*slot);
    dirty_ = true;
    damage_ns_ = frame_ns;
    outcome.kind = CaptureOutcome::Kind::kError;
    if (error != nullptr) {
      // BadMatch: the root shrank under us before its ConfigureNotify arrived.
      if (error->error_code == XCB_MATCH) size_changed_ = true;
      outcome.error = fmt::format("MIT-SHM grab failed (X error {})", error->error_code);
      std::free(error);
    } else {
      outcome.error = "MIT-SHM grab failed (connection error)";
    }
    return outcome;
  }
  if (cursor) composeCursor(*cursor);
  const media::Image grabbed{format_, width_, height_, {buffer_}, {width_ * 4}};
  auto target = media::imageOf(out_, slot->payload.data());
  if (auto converted = target ? converter_.convert(grabbed, *target) : Result<void>(target.error());
      !converted) {
    producer.cancel(*slot);
    dirty_ = true;
    damage_ns_ = frame_ns;
    outcome.kind = CaptureOutcome::Kind::kError;
    outcome.error = converted.error().message;
    return outcome;
  }
  if (stamp_) {
    auto* luma = reinterpret_cast<uint8_t*>(slot->payload.data()) + out_.plane_offset[0];
    (void)stampBarcode(luma, out_.stride[0], out_.width, out_.height, {frame_number, frame_ns});
  }
  auto bytes = framePayloadSize(out_);
  FrameMeta meta;
  meta.capture_time_ns = frame_ns;
  meta.payload_size = *bytes;
  meta.geometry = out_;
  meta.colour = abi::ColourSpace::kBt709Limited;  // what the converter wrote
  if (producer.publish(*slot, meta) == abi::kNoToken) {
    outcome.kind = CaptureOutcome::Kind::kDropped;
    return outcome;
  }
  published_ = true;
  cursor_ = cursor_state;
  outcome.kind = CaptureOutcome::Kind::kPublished;
  outcome.bytes = *bytes;
  return outcome;
}

}  // namespace

Result<std::unique_ptr<CaptureSource>> createX11Source(const SourceConfig& config,
                                                       uint64_t payload_capacity,
                                                       SourceFailure* failure) {
  auto source = std::make_unique<X11Source>(config, payload_capacity);
  if (auto opened = source->open(failure); !opened) return opened.error();
  return std::unique_ptr<CaptureSource>(std::move(source));
}

}  // namespace funkhaus::capture
