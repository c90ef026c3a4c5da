// The GameStream control stream's state: the one ENet peer of Moonlight's control connection (UDP
// 47999) and the control cipher's sequence numbers. Written by funkhaus-net's control stream only;
// its successor after a restart reads it back, validates it and goes on with the same peer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace funkhaus::abi {

// No magic or version here: GamestreamState (gamestream_state.h) embeds GsEnetState and its blob
// header carries them. Any change to a struct, enum or constant in this file bumps
// kGamestreamStateVersion.

// Channels whose incoming sequence numbers are kept. Moonlight opens 48 (0x30: generic, urgent,
// keyboard, mouse, pen, touch, UTF-8, 16 gamepads, 16 sensor channels); a client asking for more is
// told 64 in VERIFY_CONNECT, and ENet clients then use at most that.
inline constexpr uint32_t kGsEnetMaxChannels = 64;
// Unacknowledged outgoing reliable commands kept for retransmission (host -> client traffic is a
// few messages a second; a full ring refuses send()).
inline constexpr uint32_t kGsEnetOutgoingSlots = 32;
// Bytes of one outgoing command as on the wire (command header and data, no protocol header).
inline constexpr uint32_t kGsEnetMaxCommandBytes = 256;
// A fragmented incoming packet up to this size is reassembled; a larger one is acknowledged and
// dropped (control messages are small: the largest Moonlight sends is well under 1 KB).
inline constexpr uint32_t kGsEnetMaxReassembly = 4096;
// ENet's unsequenced-group window, in bits.
inline constexpr uint32_t kGsEnetUnsequencedWindow = 1024;
// The control cipher's replay window for the client's message sequence numbers, in bits. Larger
// than 64 because reliable messages on 48 independent ENet channels arrive far out of sequence
// order after a retransmission, and a late key-up must not be dropped as "too old".
inline constexpr uint32_t kGsControlReplayWindow = 1024;

enum class GsEnetPeerState : uint32_t {
  kFree = 0,                  // no peer; the fields below the state are stale
  kAcknowledgingConnect = 1,  // CONNECT accepted, our VERIFY_CONNECT not yet acknowledged
  kConnected = 2,             // VERIFY_CONNECT acknowledged: data flows both ways
  kDisconnecting = 3,         // our DISCONNECT sent, waiting for its acknowledgement
};
inline constexpr uint32_t kMaxGsEnetPeerState =
    static_cast<uint32_t>(GsEnetPeerState::kDisconnecting);

// The peer. The session ids survive a free (ENet picks the next session from the previous one).
struct GsEnetPeer {
  uint32_t state;                           // GsEnetPeerState
  uint16_t address_family;                  // AF_INET (2) or AF_INET6 (10)
  uint16_t port;                            // host byte order
  uint8_t address[16];                      // network byte order; IPv4 in the first 4 bytes
  uint16_t outgoing_peer_id;                // the client's own peer id: goes into our headers
  uint8_t incoming_session_id;              // session bits the client's datagrams carry (0..3)
  uint8_t outgoing_session_id;              // session bits ours carry (0..3)
  uint32_t connect_id;                      // CONNECT's connectID, echoed in VERIFY_CONNECT
  uint32_t connect_data;                    // CONNECT's data (X-SS-Connect-Data)
  uint32_t mtu;                             // agreed MTU (576..4096)
  uint32_t window_size;                     // window size we announced
  uint32_t channel_count;                   // channels agreed (1..kGsEnetMaxChannels)
  uint16_t outgoing_reliable_seq;           // last reliable sequence number used on channel 0xFF
  uint16_t channel0_outgoing_reliable_seq;  // last reliable sequence number used on channel 0
  uint16_t incoming_unsequenced_group;      // base of the unsequenced window
  uint16_t reserved0;
  uint32_t rtt_ms;                  // smoothed round-trip time, 0 = no sample yet
  uint32_t rtt_variance_ms;         // its mean deviation
  uint64_t connect_ns;              // CLOCK_MONOTONIC when CONNECT was accepted
  uint64_t last_receive_ns;         // ... of the latest valid datagram from the peer
  uint64_t next_ping_ns;            // ... before which no PING goes out
  uint64_t disconnect_deadline_ns;  // kDisconnecting: give up waiting for the ack then
  uint32_t disconnect_data;         // the data our DISCONNECT carries
  uint32_t scope_id;                // AF_INET6: the address's scope (link-local), else 0
  uint64_t reserved2[3];
};

static_assert(sizeof(GsEnetPeer) == 128, "peer size is part of the blob");
static_assert(offsetof(GsEnetPeer, state) == 0, "state first: it says whether the rest counts");
static_assert(offsetof(GsEnetPeer, address) == 8, "layout drift");
static_assert(offsetof(GsEnetPeer, connect_id) == 28, "layout drift");
static_assert(offsetof(GsEnetPeer, outgoing_reliable_seq) == 48, "layout drift");
static_assert(offsetof(GsEnetPeer, connect_ns) == 64, "an 8-byte field must be 8-aligned");
static_assert(offsetof(GsEnetPeer, disconnect_data) == 96, "layout drift");

// Per channel: what the client's reliable and unreliable streams delivered last. The next
// expected reliable sequence number is incoming_reliable_seq + 1 (16-bit wrap).
struct GsEnetChannel {
  uint16_t incoming_reliable_seq;    // last reliable sequence number delivered (0 = none yet)
  uint16_t incoming_unreliable_seq;  // last unreliable one delivered since that reliable one
};

static_assert(sizeof(GsEnetChannel) == 4, "channel size is part of the blob");

// One unacknowledged outgoing reliable command (VERIFY_CONNECT, PING, DISCONNECT, SEND_RELIABLE).
struct GsEnetOutgoing {
  uint64_t first_sent_ns;  // CLOCK_MONOTONIC of its first transmission
  uint64_t last_sent_ns;   // ... of its latest
  uint64_t rto_ns;         // retransmit when last_sent_ns + rto_ns has passed (doubles each time)
  uint32_t in_use;         // 1: waiting for its ACK; 0: free slot
  uint16_t reliable_seq;   // its reliable sequence number on `channel`
  uint8_t channel;         // 0 or 0xFF
  uint8_t command;         // ENet command number (low 4 bits of the command byte)
  uint16_t size;           // bytes used in `bytes`
  uint16_t attempts;       // transmissions so far
  uint32_t reserved0;
  uint8_t bytes[kGsEnetMaxCommandBytes];  // the command as on the wire, without protocol header
  uint64_t reserved1;
};

static_assert(sizeof(GsEnetOutgoing) == 304, "slot size is part of the blob");
static_assert(offsetof(GsEnetOutgoing, in_use) == 24, "layout drift");
static_assert(offsetof(GsEnetOutgoing, bytes) == 40, "layout drift");

// The fragmented packet being reassembled (ENet SEND_FRAGMENT). One at a time: fragments are
// delivered in order, and a series on another channel waits (unacknowledged) until it is done.
struct GsEnetReassembly {
  uint32_t active;  // 0 none, 1 collecting, 2 discarding (total_length too large)
  uint8_t channel;  // channel of the series
  uint8_t reserved0;
  uint16_t start_seq;           // reliable sequence number of fragment 0
  uint32_t fragment_count;      // fragments in the series
  uint32_t fragments_received;  // fragments taken (they arrive in order)
  uint32_t total_length;        // bytes of the whole packet
  uint32_t bytes_received;      // bytes taken so far
  uint64_t reserved1;
  uint8_t data[kGsEnetMaxReassembly];
};

static_assert(sizeof(GsEnetReassembly) == 32 + kGsEnetMaxReassembly, "size is part of the blob");
static_assert(offsetof(GsEnetReassembly, data) == 32, "layout drift");

// Counters of the control stream (status and tests read them).
struct GsEnetCounters {
  uint64_t datagrams_received;  // datagrams handed to the server
  uint64_t datagrams_dropped;   // no peer, wrong peer id or session, compressed, too short
  uint64_t foreign_datagrams;   // from an address that is not the peer's
  uint64_t malformed_commands;  // a command that did not parse or broke a rule (rest dropped)
  uint64_t connects_accepted;   // CONNECTs answered with VERIFY_CONNECT
  uint64_t connects_refused;    // CONNECTs refused (accept() said no, or busy with another host)
  uint64_t packets_delivered;   // kReceive events
  uint64_t duplicates;          // reliable commands seen before (acknowledged again)
  uint64_t out_of_order;        // reliable commands ahead of the next expected (not acknowledged)
  uint64_t unreliable_dropped;  // unreliable/unsequenced commands late, early or duplicate
  uint64_t fragmented_dropped;  // fragmented packets over kGsEnetMaxReassembly or inconsistent
  uint64_t reliable_sent;       // send() accepted
  uint64_t retransmits;         // reliable commands sent again
  uint64_t sends_refused;       // send() refused: no peer, too large, ring full
  uint64_t pings_received;      // PINGs from the peer
  uint64_t pings_sent;          // PINGs we sent
  uint64_t acks_sent;           // ACK commands sent
  uint64_t timeouts;            // peers freed because they went silent
  uint64_t reserved[6];
};

static_assert(sizeof(GsEnetCounters) == 192, "counters size is part of the blob");

// The control cipher (AES-128-GCM, gamestream.md §5.2): our message sequence number and a replay
// window over the client's.
struct GsControlCipherState {
  uint32_t next_outgoing_seq;     // sequence number of our next message (from 0)
  uint32_t incoming_valid;        // 1 once a client message was accepted (the window counts)
  uint32_t highest_incoming_seq;  // highest client sequence number accepted
  uint32_t reserved0;
  // Bit i (word i / 64, bit i % 64) set: client sequence number highest_incoming_seq - i was
  // accepted.
  uint64_t replay_window[kGsControlReplayWindow / 64];
  uint64_t decrypted;  // client messages accepted
  uint64_t encrypted;  // messages we sealed
  uint64_t bad_tag;    // dropped: authentication failed
  uint64_t malformed;  // dropped: truncated, wrong header type or length
  uint64_t replayed;   // dropped: sequence number seen or older than the window
  uint64_t reserved1[3];
};

static_assert(sizeof(GsControlCipherState) == 208, "cipher size is part of the blob");
static_assert(offsetof(GsControlCipherState, replay_window) == 16, "an 8-byte field, 8-aligned");

struct GsEnetState {
  GsEnetPeer peer;
  GsEnetChannel channels[kGsEnetMaxChannels];
  uint32_t unsequenced_window[kGsEnetUnsequencedWindow / 32];
  GsEnetCounters counters;
  GsEnetOutgoing outgoing[kGsEnetOutgoingSlots];
  GsEnetReassembly reassembly;
  GsControlCipherState cipher;
};

static_assert(offsetof(GsEnetState, channels) == 128, "layout drift");
static_assert(offsetof(GsEnetState, unsequenced_window) == 384, "layout drift");
static_assert(offsetof(GsEnetState, counters) == 512, "layout drift");
static_assert(offsetof(GsEnetState, outgoing) == 704, "layout drift");
static_assert(offsetof(GsEnetState, reassembly) == 704 + 32 * 304, "layout drift");
static_assert(offsetof(GsEnetState, cipher) == 704 + 32 * 304 + 32 + 4096, "layout drift");
static_assert(sizeof(GsEnetState) == 704 + 32 * 304 + 32 + 4096 + 208,
              "state size is part of the GameStream blob");
static_assert(alignof(GsEnetState) == 8, "embedded at an 8-aligned offset of the blob");
static_assert(std::is_standard_layout_v<GsEnetState>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<GsEnetState>,
              "no constructor runs in shared memory: the bytes are the object");

}  // namespace funkhaus::abi
