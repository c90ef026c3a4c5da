// One virtual evdev device on an open /dev/uinput fd (see uinput_device.h).
//
// Why the uinput ioctls and not libevdev_uinput_create_from_device(dev, fd, &uidev), which
// accepts an open fd too: it hard-codes ff_effects_max to 10 (the pads offer 16 effect slots),
// it looks for the new device's node in sysfs on every create (and fails with ENODEV when the
// evdev module is not loaded), and libevdev_uinput_write_event() is one write() per event where
// a frame here is one write(). The force-feedback requests have to be answered with the
// ioctls on the fd anyway. libevdev stays what reads the devices back, in the tests.
#include "funkhaus/input/uinput_device.h"

#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <linux/uinput.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace funkhaus::input {

namespace {

Error ioctlError(const char* what, const std::string& device) {
  const int err = errno;
  return makeError("uinput {} for \"{}\": {}", what, device, std::strerror(err));
}

template <class Arg>
int ioctlRetry(int fd, unsigned long request, Arg arg) {
  int rc;
  do rc = ::ioctl(fd, request, arg);
  while (rc == -1 && errno == EINTR);
  return rc;
}

}  // namespace

UinputDevice::UinputDevice(UniqueFd fd) : fd_(std::move(fd)) {}

Result<void> UinputDevice::create(const DeviceSpec& spec) {
  destroy();
  name_ = spec.name;
  const int fd = fd_.get();
  if (fd < 0) return makeError("uinput: no fd for \"{}\"", spec.name);
  // Non-blocking for poll()'s reads (a file status flag: it holds for every copy of the fd).
  if (const int flags = ::fcntl(fd, F_GETFL);
      flags == -1 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
    return ioctlError("F_SETFL O_NONBLOCK", spec.name);

  const auto fail = [&](const char* what) {
    Error error = ioctlError(what, spec.name);
    ::ioctl(fd, UI_DEV_DESTROY);  // back to a fresh fd (drops the bits set so far)
    return error;
  };
  const auto setBits = [&](unsigned long request, const auto& codes) {
    for (auto code : codes)
      if (ioctlRetry(fd, request, static_cast<int>(code)) == -1) return false;
    return true;
  };
  if (!spec.keys.empty() &&
      (ioctlRetry(fd, UI_SET_EVBIT, EV_KEY) == -1 || !setBits(UI_SET_KEYBIT, spec.keys)))
    return fail("UI_SET_KEYBIT");
  if (!spec.rels.empty() &&
      (ioctlRetry(fd, UI_SET_EVBIT, EV_REL) == -1 || !setBits(UI_SET_RELBIT, spec.rels)))
    return fail("UI_SET_RELBIT");
  if (!spec.axes.empty()) {
    if (ioctlRetry(fd, UI_SET_EVBIT, EV_ABS) == -1) return fail("UI_SET_EVBIT EV_ABS");
    for (const AbsAxis& axis : spec.axes) {
      uinput_abs_setup setup{};
      setup.code = axis.code;
      setup.absinfo.minimum = axis.minimum;
      setup.absinfo.maximum = axis.maximum;
      setup.absinfo.fuzz = axis.fuzz;
      setup.absinfo.flat = axis.flat;
      setup.absinfo.resolution = axis.resolution;
      if (ioctlRetry(fd, UI_SET_ABSBIT, static_cast<int>(axis.code)) == -1 ||
          ioctlRetry(fd, UI_ABS_SETUP, &setup) == -1)
        return fail("UI_ABS_SETUP");
    }
  }
  if (!spec.ffs.empty() &&
      (ioctlRetry(fd, UI_SET_EVBIT, EV_FF) == -1 || !setBits(UI_SET_FFBIT, spec.ffs)))
    return fail("UI_SET_FFBIT");
  if (!setBits(UI_SET_PROPBIT, spec.props)) return fail("UI_SET_PROPBIT");

  uinput_setup setup{};
  setup.id.bustype = spec.bustype;
  setup.id.vendor = spec.vendor;
  setup.id.product = spec.product;
  setup.id.version = spec.version;
  std::strncpy(setup.name, spec.name.c_str(), UINPUT_MAX_NAME_SIZE - 1);
  setup.ff_effects_max = spec.ff_effects_max;
  if (ioctlRetry(fd, UI_DEV_SETUP, &setup) == -1) return fail("UI_DEV_SETUP");
  if (ioctlRetry(fd, UI_DEV_CREATE, nullptr) == -1) return fail("UI_DEV_CREATE");
  created_ = true;
  return {};
}

void UinputDevice::destroy() {
  if (!created_) return;
  created_ = false;
  if (fd_.valid()) ::ioctl(fd_.get(), UI_DEV_DESTROY);
}

UniqueFd UinputDevice::release() {
  destroy();
  return std::move(fd_);
}

Result<void> UinputDevice::write(std::span<const EvdevEvent> events) {
  if (!created_) return makeError("uinput \"{}\": no device", name_);
  if (events.empty()) return {};
  std::vector<input_event> buffer(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    buffer[i].type = events[i].type;
    buffer[i].code = events[i].code;
    buffer[i].value = events[i].value;
  }
  const size_t bytes = buffer.size() * sizeof(input_event);
  ssize_t n;
  do n = ::write(fd_.get(), buffer.data(), bytes);
  while (n == -1 && errno == EINTR);
  if (n == -1) return makeError("uinput write to \"{}\": {}", name_, std::strerror(errno));
  // uinput takes whole events and all of them unless the device went away under it.
  if (static_cast<size_t>(n) != bytes)
    return makeError("uinput write to \"{}\": {} of {} bytes", name_, n, bytes);
  return {};
}

bool UinputDevice::read(input_event& event) {
  if (!created_) return false;
  ssize_t n;
  do n = ::read(fd_.get(), &event, sizeof(event));
  while (n == -1 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof(event));
}

std::string UinputDevice::sysname() const {
  if (!created_) return {};
  char buffer[64] = {};
  if (::ioctl(fd_.get(), UI_GET_SYSNAME(sizeof(buffer) - 1), buffer) == -1) return {};
  return buffer;
}

}  // namespace funkhaus::input
