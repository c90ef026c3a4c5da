// The uinput backend of funkhaus-input (see uinput_sink.h), and createUinputSink().
#include "funkhaus/input/uinput_sink.h"

#include <cerrno>
#include <cstring>

#include <linux/uinput.h>
#include <sys/ioctl.h>

#include <spdlog/spdlog.h>

#include "funkhaus/common/clock.h"

namespace funkhaus::input {

namespace {

// Events read from one pad's fd per poll(): a game flooding its pad cannot stall the worker.
constexpr int kMaxEventsPerPoll = 256;

bool takesKeyboardMouse(abi::InputKind kind) {
  switch (kind) {
    case abi::InputKind::kKeyDown:
    case abi::InputKind::kKeyUp:
    case abi::InputKind::kMouseMove:
    case abi::InputKind::kMousePosition:
    case abi::InputKind::kButtonDown:
    case abi::InputKind::kButtonUp:
    case abi::InputKind::kScroll:
    case abi::InputKind::kHScroll:
      return true;
    default:
      return false;
  }
}

}  // namespace

UinputSink::UinputSink(std::vector<UniqueFd> uinput_fds, const UinputOptions& options,
                       RumbleCallback rumble)
    : options_(options), rumble_(std::move(rumble)), pool_(std::move(uinput_fds)) {}

UinputSink::~UinputSink() {
  // UI_DEV_DESTROY for each device now; closing the fds would do it as well.
  for (auto& device : devices_) device.reset();
}

bool UinputSink::takes(abi::InputKind kind) const {
  switch (kind) {
    case abi::InputKind::kPadState:
    case abi::InputKind::kPadArrival:
    case abi::InputKind::kPadRemoved:
    case abi::InputKind::kTouch:
    case abi::InputKind::kPen:
      return true;
    default:
      return options_.keyboard_mouse && takesKeyboardMouse(kind);
  }
}

Result<void> UinputSink::apply(const abi::InputEvent& event) {
  if (event.kind == 0 || event.kind > abi::kMaxInputKind)
    return makeError("input kind {} unknown", event.kind);
  const auto kind = static_cast<abi::InputKind>(event.kind);
  if (kind == abi::InputKind::kReleaseAll) {
    releaseAll();
    return {};
  }
  if (!takes(kind))
    return makeError(ErrorCode::kUnsupported, "uinput does not take kind {}", event.kind);
  actions_.clear();
  if (auto mapped = mapper_.map(event, actions_); !mapped) return mapped;
  return run(actions_);
}

void UinputSink::releaseAll() {
  actions_.clear();
  mapper_.releaseAll(actions_);
  if (auto done = run(actions_); !done)
    spdlog::warn("uinput: release all: {}", done.error().message);
}

Result<void> UinputSink::run(std::vector<UinputAction>& actions) {
  for (const UinputAction& action : actions) {
    switch (action.op) {
      case UinputAction::Op::kDestroy:
        destroy(action.device);
        break;
      case UinputAction::Op::kCreate:
      case UinputAction::Op::kWrite: {
        auto device = ensure(action.device);
        if (!device) {
          mapper_.forget(action.device);
          return device.error();
        }
        if (action.op == UinputAction::Op::kWrite)
          if (auto written = (*device)->write(action.events); !written) return written;
        break;
      }
    }
  }
  return {};
}

Result<UinputDevice*> UinputSink::ensure(VirtualDevice device) {
  std::optional<UinputDevice>& slot = devices_[deviceIndex(device)];
  if (slot && slot->created()) return &*slot;
  if (pool_.empty())
    return makeError("uinput: no /dev/uinput fd left for \"{}\" ({} devices exist)",
                     deviceName(device), devices());
  UinputDevice made(std::move(pool_.back()));
  pool_.pop_back();
  if (auto created = made.create(deviceSpec(device)); !created) {
    pool_.push_back(made.release());
    return created.error();
  }
  slot.emplace(std::move(made));
  spdlog::info("uinput: created \"{}\" ({})", slot->name(), slot->sysname());
  return &*slot;
}

void UinputSink::destroy(VirtualDevice device) {
  std::optional<UinputDevice>& slot = devices_[deviceIndex(device)];
  if (!slot) return;
  spdlog::info("uinput: destroyed \"{}\"", slot->name());
  pool_.push_back(slot->release());
  slot.reset();
  if (isPad(device)) {
    const auto pad = static_cast<uint32_t>(device);
    effects_[pad].reset();
    reportRumble(pad);  // a pad that goes stops rumbling
  }
}

uint32_t UinputSink::devices() const {
  uint32_t n = 0;
  for (const auto& device : devices_)
    if (device && device->created()) ++n;
  return n;
}

std::string UinputSink::sysname(VirtualDevice device) const {
  const auto& slot = devices_[deviceIndex(device)];
  return slot ? slot->sysname() : std::string();
}

void UinputSink::poll() {
  const uint64_t now = monotonicNs();
  for (uint32_t pad = 0; pad < abi::kMaxPads; ++pad)
    if (auto& device = devices_[deviceIndex(padDevice(pad))]; device && device->created())
      pollPad(pad, *device, now);
}

// What the kernel queued on a pad's fd: a game's EVIOCSFF / EVIOCRMFF on the event node become
// UI_FF_UPLOAD / UI_FF_ERASE requests (the game's ioctl waits until we answer them), and its
// EV_FF writes (play count, 0 = stop) arrive as they are.
void UinputSink::pollPad(uint32_t pad, UinputDevice& device, uint64_t now_ns) {
  RumbleTracker& effects = effects_[pad];
  input_event ev{};
  for (int i = 0; i < kMaxEventsPerPoll && device.read(ev); ++i) {
    if (ev.type == EV_UINPUT && ev.code == UI_FF_UPLOAD) {
      uinput_ff_upload upload{};
      upload.request_id = static_cast<uint32_t>(ev.value);
      if (::ioctl(device.fd(), UI_BEGIN_FF_UPLOAD, &upload) == -1) {
        spdlog::warn("uinput: UI_BEGIN_FF_UPLOAD on \"{}\": {}", device.name(),
                     std::strerror(errno));
        continue;
      }
      const auto rumble = rumbleOf(upload.effect);
      upload.retval = rumble && effects.upload(upload.effect.id, *rumble) ? 0 : -EINVAL;
      if (::ioctl(device.fd(), UI_END_FF_UPLOAD, &upload) == -1)
        spdlog::warn("uinput: UI_END_FF_UPLOAD on \"{}\": {}", device.name(), std::strerror(errno));
    } else if (ev.type == EV_UINPUT && ev.code == UI_FF_ERASE) {
      uinput_ff_erase erase{};
      erase.request_id = static_cast<uint32_t>(ev.value);
      if (::ioctl(device.fd(), UI_BEGIN_FF_ERASE, &erase) == -1) {
        spdlog::warn("uinput: UI_BEGIN_FF_ERASE on \"{}\": {}", device.name(),
                     std::strerror(errno));
        continue;
      }
      effects.erase(static_cast<int32_t>(erase.effect_id));
      erase.retval = 0;
      if (::ioctl(device.fd(), UI_END_FF_ERASE, &erase) == -1)
        spdlog::warn("uinput: UI_END_FF_ERASE on \"{}\": {}", device.name(), std::strerror(errno));
    } else if (ev.type == EV_FF && ev.code != FF_GAIN && ev.code != FF_AUTOCENTER) {
      effects.play(ev.code, ev.value, now_ns);
    }
  }
  effects.expire(now_ns);
  reportRumble(pad);
}

void UinputSink::reportRumble(uint32_t pad) {
  const Motors now = effects_[pad].motors();
  if (now == reported_[pad]) return;
  reported_[pad] = now;
  if (rumble_) rumble_(pad, now.low, now.high);
}

Result<std::unique_ptr<InputSink>> createUinputSink(std::vector<UniqueFd> uinput_fds,
                                                    const UinputOptions& options,
                                                    RumbleCallback rumble) {
  if (uinput_fds.empty())
    return makeError(ErrorCode::kUnsupported, "uinput: no /dev/uinput fds were handed over");
  for (const UniqueFd& fd : uinput_fds) {
    unsigned int version = 0;
    if (::ioctl(fd.get(), UI_GET_VERSION, &version) == -1)
      return makeError(ErrorCode::kBadConfig, "uinput: fd {} is not /dev/uinput: {}", fd.get(),
                       std::strerror(errno));
    if (version < 5)  // UI_DEV_SETUP and UI_ABS_SETUP came with version 5 (Linux 4.5)
      return makeError(ErrorCode::kUnsupported, "uinput version {} is older than 5", version);
  }
  if (uinput_fds.size() < uinputFdsWanted(options))
    spdlog::warn("uinput: {} fds for up to {} devices: the devices beyond them are refused",
                 uinput_fds.size(), uinputFdsWanted(options));
  return std::unique_ptr<InputSink>(
      std::make_unique<UinputSink>(std::move(uinput_fds), options, std::move(rumble)));
}

}  // namespace funkhaus::input
