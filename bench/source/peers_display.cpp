// Peers mode: the private Xvfb and the X client that draws the content every tool captures.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <xcb/xcb.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "funkhaus/bench/peers_tools.h"
#include "funkhaus/capture/barcode.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::bench {

namespace {

constexpr uint32_t kBackground = 0x305070;
constexpr uint32_t kSquare = 0xF0E040;
constexpr uint32_t kPanSpeed = 6;      // texture pixels per frame
constexpr uint32_t kSquareSpeed = 10;  // pixels per frame

// A texture of smooth gradients under a grid of 48-pixel tiles: detail an encoder must code,
// motion it can find.
uint32_t texel(uint32_t x, uint32_t y, uint32_t w, uint32_t h) {
  const uint32_t r = x * 255 / std::max(1u, w - 1);
  const uint32_t g = y * 255 / std::max(1u, h - 1);
  const bool tile = ((x / 48) + (y / 48)) % 2 == 0;
  const uint32_t b = tile ? 220 : 40;
  const bool line = x % 48 < 3 || y % 48 < 3;
  return line ? 0xFFFFFF : (r << 16 | g << 8 | b);
}

}  // namespace

Result<std::unique_ptr<XvfbDisplay>> XvfbDisplay::start(uint32_t width, uint32_t height) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return makeError("pipe: {}", std::strerror(errno));
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  ChildSpec spec;
  spec.program = "Xvfb";
  spec.args = {"-displayfd",
               "3",
               "-screen",
               "0",
               std::to_string(width) + "x" + std::to_string(height) + "x24",
               "-nolisten",
               "tcp",
               "-noreset"};
  spec.fds = {{3, ready_write.get()}};
  spec.drop_privileges = false;
  auto process = ChildProcess::spawn(spec);
  ready_write.reset();
  if (!process) return makeError("cannot start Xvfb: {}", process.error().message);
  std::unique_ptr<XvfbDisplay> out(new XvfbDisplay());
  out->process_.emplace(std::move(*process));
  // Xvfb writes its display number once it accepts connections; EOF if it died.
  std::string number;
  const uint64_t deadline = monotonicNs() + 15'000'000'000;
  while (number.find('\n') == std::string::npos) {
    const uint64_t now = monotonicNs();
    pollfd p{ready_read.get(), POLLIN, 0};
    char buf[16];
    ssize_t n = 0;
    if (now >= deadline || poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000) + 1) <= 0 ||
        (n = read(ready_read.get(), buf, sizeof buf)) <= 0)
      break;
    number.append(buf, static_cast<size_t>(n));
  }
  if (number.find('\n') == std::string::npos) return makeError("Xvfb did not come up");
  out->display_ = ":" + number.substr(0, number.find('\n'));
  return out;
}

XvfbDisplay::~XvfbDisplay() {
  if (process_) process_->stop(std::chrono::seconds(2));
}

struct ContentDrawer::X {
  xcb_connection_t* conn = nullptr;
  xcb_window_t root = 0;
  xcb_gcontext_t gc = 0;
  xcb_pixmap_t texture = 0;
  uint32_t width = 0, height = 0;
  uint32_t panel_x = 0, panel_y = 0, panel_w = 0, panel_h = 0;
  uint32_t square = 0, square_y = 0;
  capture::BarcodeLayout layout{};
  std::vector<uint8_t> luma;  // one band of barcode luma, stride = width
  std::vector<xcb_rectangle_t> white, black;
  int16_t last_square_x = -1;

  ~X() {
    if (conn != nullptr) xcb_disconnect(conn);
  }
  void foreground(uint32_t rgb) { xcb_change_gc(conn, gc, XCB_GC_FOREGROUND, &rgb); }
  void fill(uint32_t rgb, const xcb_rectangle_t& r) {
    foreground(rgb);
    xcb_poly_fill_rectangle(conn, root, gc, 1, &r);
  }
  void sync() { std::free(xcb_get_input_focus_reply(conn, xcb_get_input_focus(conn), nullptr)); }

  Result<void> open(const std::string& display, uint32_t w, uint32_t h) {
    conn = xcb_connect(display.c_str(), nullptr);
    if (xcb_connection_has_error(conn) != 0) return makeError("cannot connect to {}", display);
    const xcb_setup_t* setup = xcb_get_setup(conn);
    const xcb_screen_t* screen = xcb_setup_roots_iterator(setup).data;
    if (screen->root_depth != 24 || setup->image_byte_order != XCB_IMAGE_ORDER_LSB_FIRST)
      return makeError("display {}: root depth {} / byte order not 24-bit LSB first", display,
                       screen->root_depth);
    root = screen->root;
    width = screen->width_in_pixels;
    height = screen->height_in_pixels;
    if (width != w || height != h)
      return makeError("display {} is {}x{}, not {}x{}", display, width, height, w, h);
    auto layout_or = capture::barcodeLayout(width, height);
    if (!layout_or) return layout_or.error();
    layout = *layout_or;
    gc = xcb_generate_id(conn);
    xcb_create_gc(conn, gc, root, 0, nullptr);
    fill(kBackground, {0, 0, static_cast<uint16_t>(width), static_cast<uint16_t>(height)});
    // The panel: the middle of the screen below the barcode band; its texture twice as wide.
    panel_w = width / 2 / 16 * 16;
    panel_h = height / 2 / 16 * 16;
    panel_x = width / 4;
    panel_y = std::max(height / 4, layout.band_height + 16);
    square = std::max(16u, height / 12);
    square_y = std::min(height - square, panel_y + panel_h + 8);
    texture = xcb_generate_id(conn);
    xcb_create_pixmap(conn, 24, texture, root, static_cast<uint16_t>(2 * panel_w),
                      static_cast<uint16_t>(panel_h));
    // Uploaded in strips that fit a request (the core limit without BIG-REQUESTS: 256 KiB).
    const uint32_t tw = 2 * panel_w;
    const uint32_t rows_per_strip = std::max(1u, (200u * 1024) / (tw * 4));
    std::vector<uint32_t> strip;
    for (uint32_t y0 = 0; y0 < panel_h; y0 += rows_per_strip) {
      const uint32_t rows = std::min(rows_per_strip, panel_h - y0);
      strip.resize(size_t{tw} * rows);
      for (uint32_t y = 0; y < rows; ++y)
        for (uint32_t x = 0; x < tw; ++x)
          // Periodic over panel_w, so the pan wraps without a seam.
          strip[size_t{y} * tw + x] = texel(x % panel_w, y0 + y, panel_w, panel_h);
      xcb_put_image(conn, XCB_IMAGE_FORMAT_Z_PIXMAP, texture, gc, static_cast<uint16_t>(tw),
                    static_cast<uint16_t>(rows), 0, static_cast<int16_t>(y0), 0, 24,
                    static_cast<uint32_t>(strip.size() * 4),
                    reinterpret_cast<const uint8_t*>(strip.data()));
    }
    // The pointer out of the way (funkhaus draws it into its frames; the peers are told not to).
    xcb_warp_pointer(conn, XCB_NONE, root, 0, 0, 0, 0, static_cast<int16_t>(width - 1),
                     static_cast<int16_t>(height - 1));
    luma.assign(size_t{width} * layout.band_height, 0);
    sync();
    if (xcb_connection_has_error(conn) != 0) return makeError("X connection to {} broke", display);
    return {};
  }

  // Frame n: panel, square, then the barcode last (so a barcode implies the rest is drawn).
  void draw(uint64_t n, uint64_t deadline_ns) {
    xcb_copy_area(conn, texture, root, gc, static_cast<int16_t>((n * kPanSpeed) % panel_w), 0,
                  static_cast<int16_t>(panel_x), static_cast<int16_t>(panel_y),
                  static_cast<uint16_t>(panel_w), static_cast<uint16_t>(panel_h));
    const uint32_t span = width - square;
    const auto x = static_cast<int16_t>((n * kSquareSpeed) % span);
    const auto s = static_cast<uint16_t>(square);
    if (last_square_x >= 0)
      fill(kBackground, {last_square_x, static_cast<int16_t>(square_y), s, s});
    fill(kSquare, {x, static_cast<int16_t>(square_y), s, s});
    last_square_x = x;
    (void)capture::stampBarcode(luma.data(), width, width, height, {n, deadline_ns});
    white.clear();
    black.clear();
    const uint32_t b = layout.block;
    for (uint32_t row = 0; row < capture::kBarcodeRows; ++row)
      for (uint32_t col = 0; col < capture::kBarcodeColumns; ++col) {
        const uint8_t v = luma[size_t{row * b + b / 2} * width + col * b + b / 2];
        const xcb_rectangle_t r{static_cast<int16_t>(col * b), static_cast<int16_t>(row * b),
                                static_cast<uint16_t>(b), static_cast<uint16_t>(b)};
        (v > 128 ? white : black).push_back(r);
      }
    foreground(0xFFFFFF);
    xcb_poly_fill_rectangle(conn, root, gc, static_cast<uint32_t>(white.size()), white.data());
    foreground(0x000000);
    xcb_poly_fill_rectangle(conn, root, gc, static_cast<uint32_t>(black.size()), black.data());
    sync();  // flushed and done by the server
  }
};

Result<std::unique_ptr<ContentDrawer>> ContentDrawer::start(const std::string& display,
                                                            uint32_t width, uint32_t height,
                                                            uint32_t fps) {
  std::unique_ptr<ContentDrawer> d(new ContentDrawer());
  d->x_ = std::make_unique<X>();
  if (auto opened = d->x_->open(display, width, height); !opened)
    return makeError("X client: {}", opened.error().message);
  d->fps_ = fps;
  d->draw_ns_.reserve(size_t{fps} * 3600);
  d->thread_ = std::thread([p = d.get()] { p->run(); });
  return d;
}

ContentDrawer::~ContentDrawer() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void ContentDrawer::run() {
  // One frame per second fewer than the tools capture: the phase of the draws against any
  // tool's own grab grid sweeps a whole frame period every second, so every tool's wait for its
  // next grab is spread evenly over the period instead of fixed by the start's luck.
  const uint64_t rate = fps_ > 1 ? fps_ - 1 : fps_;
  const uint64_t origin = monotonicNs();
  auto deadlineOf = [&](uint64_t n) { return origin + n * 1'000'000'000 / rate; };
  uint64_t n = 1;  // frame 0 stays "not drawn"
  while (!stop_.load(std::memory_order_relaxed)) {
    const uint64_t deadline = deadlineOf(n);
    const timespec ts{static_cast<time_t>(deadline / 1'000'000'000),
                      static_cast<long>(deadline % 1'000'000'000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    x_->draw(n, deadline);
    const uint64_t drawn = monotonicNs();
    if (xcb_connection_has_error(x_->conn) != 0) return;
    {
      std::lock_guard lock(mutex_);
      if (draw_ns_.size() <= n) draw_ns_.resize(n + 1, 0);
      draw_ns_[n] = drawn;
    }
    frames_.fetch_add(1, std::memory_order_relaxed);
    // Late by more than a period: skip the deadlines already past.
    uint64_t next = n + 1;
    while (deadlineOf(next) < drawn) ++next;
    if (next > n + 1) missed_.fetch_add(next - n - 1, std::memory_order_relaxed);
    n = next;
  }
}

std::vector<uint64_t> ContentDrawer::drawTimes() const {
  std::lock_guard lock(mutex_);
  return draw_ns_;
}

std::optional<uint64_t> ContentDrawer::cpuNs() const {
  clockid_t clock{};
  if (pthread_getcpuclockid(const_cast<std::thread&>(thread_).native_handle(), &clock) != 0)
    return std::nullopt;
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return std::nullopt;
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace funkhaus::bench
