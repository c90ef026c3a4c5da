// Messages on the SOCK_SEQPACKET channel between funkhausd and each worker.
// The sender is named on every message type; the receiver validates header and body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "funkhaus/abi/abi.h"

namespace funkhaus::abi {

inline constexpr uint32_t kMessageMagic = 0x534D4846;  // "FHMS" as little-endian bytes
inline constexpr uint32_t kMaxMessageSize = 4096;      // one seqpacket datagram, header included
// Request and reply messages carry text and may be larger: up to this, header included.
inline constexpr uint32_t kMaxTextMessageSize = 65536;

enum class MessageType : uint16_t {
  kHello = 1,    // worker -> funkhausd, first message: HelloBody (its ABI version)
  kReady = 2,    // worker -> funkhausd: attached to its rings, producing or consuming
  kRingFds = 3,  // funkhausd -> worker: ring memfds in SCM_RIGHTS, RingFdsBody
  kCommand = 4,  // funkhausd -> worker: CommandBody (keyframe now, set bitrate, stop)
  kEvent = 5,    // worker -> funkhausd: EventBody (keyframe request, mode change, error)
  // net -> funkhausd: ConnectionBody plus exactly one fd in SCM_RIGHTS, an accepted connection
  // for funkhausd to keep, so that a restarted net gets it back (role kConnection, tag = slot).
  // funkhausd checks that it is a connected stream socket and that the slot is in range.
  kConnectionDeposit = 6,
  kConnectionRelease = 7,  // net -> funkhausd: ConnectionBody; `slot` is gone, close it
  // Either way: TextBody + `length` bytes of JSON (an object with a "cmd"), answered by one
  // kReply with the same id. Which requests a worker may send and which it serves is in
  // funkhausd's worker table; the receiver parses the text as untrusted.
  kRequest = 8,
  kReply = 9,  // either way: TextBody + `length` bytes of JSON, the answer to request `id`
};

struct MessageHeader {
  uint32_t magic;        // kMessageMagic
  uint16_t abi_version;  // kAbiVersion of the sender (refused on mismatch)
  uint16_t type;         // MessageType
  uint32_t length;       // bytes in the whole message, header included, <= kMaxMessageSize
  uint32_t reserved;     // zero
};

static_assert(sizeof(MessageHeader) == 16, "message header size is part of the ABI");
static_assert(offsetof(MessageHeader, type) == 6, "layout drift");
static_assert(offsetof(MessageHeader, length) == 8, "layout drift");
static_assert(std::is_standard_layout_v<MessageHeader> &&
                  std::is_trivially_copyable_v<MessageHeader>,
              "messages are memcpy'd out of the received datagram");

struct HelloBody {
  uint32_t abi_version;  // kAbiVersion the worker was built with
  uint32_t kind;         // WorkerKind
  uint32_t pid;          // the worker's pid as it sees it (checked against SO_PEERCRED)
  uint32_t reserved;
};

static_assert(sizeof(HelloBody) == 16, "hello body size is part of the ABI");
static_assert(std::is_standard_layout_v<HelloBody> && std::is_trivially_copyable_v<HelloBody>,
              "messages are memcpy'd out of the received datagram");

// What each fd of a kRingFds message is, in order. Roles are generic; the tag says which one
// of its kind (a ring, an endpoint, a connection, a device), so a new ring, protocol or device is
// a new tag value, never a new role.
enum class FdRole : uint32_t {
  kStatusPage = 1,  // the worker's WorkerStatusPage; tag 0
  kRingIn = 2,      // a ring the worker consumes; tag = RingId
  kRingOut = 3,     // a ring the worker produces into; tag = RingId
  kNetState = 4,    // net: its NetStatePage (state that survives a net restart); tag 0
  kEndpoint = 5,    // net: a socket funkhausd keeps open; tag = an endpoint tag (net_state.h)
  kConnection = 6,  // net: a connection it deposited earlier; tag = its connection slot
  kDevice = 7,      // an fd funkhausd opened for the worker; tag = DeviceId
};
inline constexpr uint32_t kMaxFdRole = static_cast<uint32_t>(FdRole::kDevice);

// Which ring of a session an fd is (the tag of kRingIn / kRingOut). The ring's kind (frame or
// packet ring) is in its own header; the id says what flows through it.
enum class RingId : uint32_t {
  kDisplay = 1,       // frame ring, BGRA: vdisplay (driver) -> capture
  kFrames = 2,        // frame ring, I420: capture -> encode
  kVideoPackets = 3,  // packet ring, access units: encode -> net
  kInput = 4,         // input ring (input_ring.h), the client's input: net -> input
  kAudioPackets = 5,  // packet ring, Opus packets (Codec::kOpus): audio -> net
};
inline constexpr uint32_t kMaxRingId = static_cast<uint32_t>(RingId::kAudioPackets);

// Which device an fd is (the tag of kDevice).
enum class DeviceId : uint32_t {
  kDisplayControl = 1,  // vdisplay: its end of the control socket (VdisplayHeader datagrams)
  kUinput = 2,          // input: an open /dev/uinput, one per virtual device it may create
};
inline constexpr uint32_t kMaxDeviceId = static_cast<uint32_t>(DeviceId::kUinput);

inline constexpr uint32_t kMaxMessageFds = 8;

// Flags in RingFdsBody::flags.
inline constexpr uint32_t kRingFdsLast = 1u << 0;  // the last ring-fds message of the hand-over

// funkhausd may send several of these right after hello (more than 8 fds); the worker reads
// them until one carries kRingFdsLast.
struct RingFdsBody {
  uint32_t count;                  // fds attached to this message, 1..kMaxMessageFds
  uint32_t flags;                  // kRingFds*
  uint32_t roles[kMaxMessageFds];  // FdRole of each fd; unused entries zero
  uint32_t tags[kMaxMessageFds];   // per-fd tag, see FdRole; unused entries zero
  uint32_t reserved;
  uint32_t reserved2;
};

static_assert(sizeof(RingFdsBody) == 80, "ring-fds body size is part of the ABI");
static_assert(std::is_standard_layout_v<RingFdsBody> && std::is_trivially_copyable_v<RingFdsBody>,
              "messages are memcpy'd out of the received datagram");

enum class Command : uint32_t {
  kStop = 1,        // finish and exit with kExitStopped
  kKeyframe = 2,    // encode: next frame is an IDR
  kSetBitrate = 3,  // encode: arg = bits per second
  kSetCodec = 4,    // encode: arg = Codec (codec.h); the next frame is an IDR of that codec
  kSetFps = 5,      // capture, encode: arg = frames per second (1..240)
  // audio: arg = audioRequest(): channels and packet duration the listeners want; 0: nobody
  // listens (the user's default sink comes back).
  kSetAudio = 6,
};
inline constexpr uint32_t kMaxCommand = static_cast<uint32_t>(Command::kSetAudio);

// The arg of kSetAudio and kAudioRequest: channels (2, 6, 8; 0: the worker's configured count)
// in bits 8-15, packet duration in ms (5, 10, 20) in bits 0-7; 0 alone: nobody listens.
constexpr uint64_t audioRequest(uint32_t channels, uint32_t packet_ms) {
  return uint64_t{channels & 0xFF} << 8 | (packet_ms & 0xFF) | uint64_t{1} << 16;
}
constexpr bool audioRequested(uint64_t arg) { return (arg >> 16 & 1) != 0; }
constexpr uint32_t audioRequestChannels(uint64_t arg) {
  return static_cast<uint32_t>(arg >> 8 & 0xFF);
}
constexpr uint32_t audioRequestPacketMs(uint64_t arg) { return static_cast<uint32_t>(arg & 0xFF); }

struct CommandBody {
  uint32_t command;  // Command
  uint32_t reserved;
  uint64_t arg;
};

static_assert(sizeof(CommandBody) == 16, "command body size is part of the ABI");

// Connection slots in the net state page; funkhausd keeps at most this many connections.
inline constexpr uint32_t kMaxConnections = 16;

struct ConnectionBody {
  uint32_t slot;  // connection slot, < kMaxConnections
  uint32_t reserved;
};

static_assert(sizeof(ConnectionBody) == 8, "connection body size is part of the ABI");
static_assert(std::is_standard_layout_v<ConnectionBody> &&
                  std::is_trivially_copyable_v<ConnectionBody>,
              "messages are memcpy'd out of the received datagram");

enum class Event : uint32_t {
  kKeyframeRequest = 1,  // net: a viewer needs an IDR
  kModeChanged = 2,      // capture/driver: arg = width << 32 | height
  kError = 3,            // a recoverable error; arg = worker-defined code
  // net: a viewer asked for a display mode (rtsp://host/path?mode=WxH[@HZ]);
  // arg = width << 32 | height << 16 | refresh_hz (0: any). funkhausd checks it against the
  // virtual display's bounds.
  kModeRequest = 4,
  // net: a GameStream client announced its stream; funkhausd forwards these to the encoder and
  // sends them again to a restarted one. arg = Codec (codec.h) / bits per second.
  kCodecRequest = 5,
  kBitrateRequest = 6,
  // net: a GameStream client announced its frame rate; funkhausd forwards it to capture and
  // encode (and again to a restarted one). arg = frames per second.
  kFpsRequest = 7,
  // net: whether anybody listens to audio (audioRequest(), or 0), sent when that changes;
  // funkhausd forwards it to the audio ring's producer as kSetAudio (and again to a restarted one).
  kAudioRequest = 8,
};
inline constexpr uint32_t kMaxEvent = static_cast<uint32_t>(Event::kAudioRequest);

struct EventBody {
  uint32_t event;  // Event
  uint32_t reserved;
  uint64_t arg;
};

static_assert(sizeof(EventBody) == 16, "event body size is part of the ABI");

// Precedes the text of kRequest and kReply; the text follows at once and ends the message (no
// NUL, at most kMaxTextMessageSize - sizeof(MessageHeader) - sizeof(TextBody) bytes).
struct TextBody {
  uint32_t id;      // chosen by the requester, echoed by the reply; != 0
  uint32_t length;  // bytes of text after this body
};

static_assert(sizeof(TextBody) == 8, "text body size is part of the ABI");
static_assert(std::is_standard_layout_v<TextBody> && std::is_trivially_copyable_v<TextBody>,
              "messages are memcpy'd out of the received datagram");
inline constexpr uint32_t kMaxMessageText =
    kMaxTextMessageSize - sizeof(MessageHeader) - sizeof(TextBody);

}  // namespace funkhaus::abi
