// UinputDevice: one open /dev/uinput fd and the virtual evdev device made on it (UI_DEV_SETUP,
// UI_SET_*BIT, UI_ABS_SETUP, UI_DEV_CREATE / UI_DEV_DESTROY), written to with input_event
// frames. Used by UinputSink on funkhaus-input's main thread only.
//
// The kernel destroys a uinput device when the last reference to its open file goes away, i.e.
// when this process exits or crashes -- provided nobody else holds a copy of the fd (funkhausd
// must close its copies once it has handed them over, or the devices, and whatever keys they
// hold down, would outlive the worker). UI_DEV_DESTROY returns the fd to the state of a fresh
// open, so one fd serves one device after another (pads come and go).
#pragma once

#include <span>
#include <string>
#include <utility>

#include <linux/input.h>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/input/uinput_devices.h"

namespace funkhaus::input {

class UinputDevice {
 public:
  explicit UinputDevice(UniqueFd fd);  // an open /dev/uinput (O_RDWR); no device on it yet
  UinputDevice(UinputDevice&& other) noexcept
      : fd_(std::move(other.fd_)),
        name_(std::move(other.name_)),
        created_(std::exchange(other.created_, false)) {}
  UinputDevice& operator=(UinputDevice&& other) noexcept {
    if (this != &other) {
      destroy();
      fd_ = std::move(other.fd_);
      name_ = std::move(other.name_);
      created_ = std::exchange(other.created_, false);
    }
    return *this;
  }
  UinputDevice(const UinputDevice&) = delete;
  UinputDevice& operator=(const UinputDevice&) = delete;
  ~UinputDevice() { destroy(); }

  // Makes the device `spec` describes; the fd is switched to non-blocking (poll() reads it).
  // Error: the ioctl that failed and why (the fd stays usable for another try).
  Result<void> create(const DeviceSpec& spec);
  bool created() const { return created_; }
  // UI_DEV_DESTROY: the device disappears; the fd can make another.
  void destroy();
  // Destroys the device and gives the fd back.
  UniqueFd release();

  // One write() of all `events` (frames with their SYN_REPORTs).
  Result<void> write(std::span<const EvdevEvent> events);
  // Reads one event the kernel queued for us (EV_UINPUT requests, EV_FF play/stop, EV_LED ...):
  // false when there is none.
  bool read(input_event& event);

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }
  // "inputN" in /sys/devices/virtual/input (UI_GET_SYSNAME), empty when unknown.
  std::string sysname() const;

 private:
  UniqueFd fd_;
  std::string name_;
  bool created_ = false;
};

}  // namespace funkhaus::input
