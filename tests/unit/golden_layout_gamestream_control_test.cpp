// Golden layout of the GameStream control stream's state (abi/gamestream_control.h), embedded in
// the GameStream blob: a change here must bump kGamestreamStateVersion.
#include "funkhaus/abi/gamestream_control.h"
#include "golden_layout.h"

namespace funkhaus::abi {
namespace {

TEST(GoldenLayout, GsEnetPeer) {
  checkLayout<GsEnetPeer>("GsEnetPeer", 128,
                          {{"state", 0, 4},
                           {"address_family", 4, 2},
                           {"port", 6, 2},
                           {"address", 8, 16},
                           {"outgoing_peer_id", 24, 2},
                           {"incoming_session_id", 26, 1},
                           {"outgoing_session_id", 27, 1},
                           {"connect_id", 28, 4},
                           {"connect_data", 32, 4},
                           {"mtu", 36, 4},
                           {"window_size", 40, 4},
                           {"channel_count", 44, 4},
                           {"outgoing_reliable_seq", 48, 2},
                           {"channel0_outgoing_reliable_seq", 50, 2},
                           {"incoming_unsequenced_group", 52, 2},
                           {"reserved0", 54, 2},
                           {"rtt_ms", 56, 4},
                           {"rtt_variance_ms", 60, 4},
                           {"connect_ns", 64, 8},
                           {"last_receive_ns", 72, 8},
                           {"next_ping_ns", 80, 8},
                           {"disconnect_deadline_ns", 88, 8},
                           {"disconnect_data", 96, 4},
                           {"scope_id", 100, 4},
                           {"reserved2", 104, 24}},
                          {W(state),
                           W(address_family),
                           W(port),
                           W(address),
                           W(outgoing_peer_id),
                           W(incoming_session_id),
                           W(outgoing_session_id),
                           W(connect_id),
                           W(connect_data),
                           W(mtu),
                           W(window_size),
                           W(channel_count),
                           W(outgoing_reliable_seq),
                           W(channel0_outgoing_reliable_seq),
                           W(incoming_unsequenced_group),
                           W(reserved0),
                           W(rtt_ms),
                           W(rtt_variance_ms),
                           W(connect_ns),
                           W(last_receive_ns),
                           W(next_ping_ns),
                           W(disconnect_deadline_ns),
                           W(disconnect_data),
                           W(scope_id),
                           W(reserved2)});
}

TEST(GoldenLayout, GsEnetChannel) {
  checkLayout<GsEnetChannel>("GsEnetChannel", 4,
                             {{"incoming_reliable_seq", 0, 2}, {"incoming_unreliable_seq", 2, 2}},
                             {W(incoming_reliable_seq), W(incoming_unreliable_seq)});
}

TEST(GoldenLayout, GsEnetOutgoing) {
  checkLayout<GsEnetOutgoing>(
      "GsEnetOutgoing", 304,
      {{"first_sent_ns", 0, 8},
       {"last_sent_ns", 8, 8},
       {"rto_ns", 16, 8},
       {"in_use", 24, 4},
       {"reliable_seq", 28, 2},
       {"channel", 30, 1},
       {"command", 31, 1},
       {"size", 32, 2},
       {"attempts", 34, 2},
       {"reserved0", 36, 4},
       {"bytes", 40, 256},
       {"reserved1", 296, 8}},
      {W(first_sent_ns), W(last_sent_ns), W(rto_ns), W(in_use), W(reliable_seq), W(channel),
       W(command), W(size), W(attempts), W(reserved0), W(bytes), W(reserved1)});
}

TEST(GoldenLayout, GsEnetReassembly) {
  checkLayout<GsEnetReassembly>(
      "GsEnetReassembly", 4128,
      {{"active", 0, 4},
       {"channel", 4, 1},
       {"reserved0", 5, 1},
       {"start_seq", 6, 2},
       {"fragment_count", 8, 4},
       {"fragments_received", 12, 4},
       {"total_length", 16, 4},
       {"bytes_received", 20, 4},
       {"reserved1", 24, 8},
       {"data", 32, 4096}},
      {W(active), W(channel), W(reserved0), W(start_seq), W(fragment_count), W(fragments_received),
       W(total_length), W(bytes_received), W(reserved1), W(data)});
}

TEST(GoldenLayout, GsEnetCounters) {
  checkLayout<GsEnetCounters>(
      "GsEnetCounters", 192,
      {{"datagrams_received", 0, 8},
       {"datagrams_dropped", 8, 8},
       {"foreign_datagrams", 16, 8},
       {"malformed_commands", 24, 8},
       {"connects_accepted", 32, 8},
       {"connects_refused", 40, 8},
       {"packets_delivered", 48, 8},
       {"duplicates", 56, 8},
       {"out_of_order", 64, 8},
       {"unreliable_dropped", 72, 8},
       {"fragmented_dropped", 80, 8},
       {"reliable_sent", 88, 8},
       {"retransmits", 96, 8},
       {"sends_refused", 104, 8},
       {"pings_received", 112, 8},
       {"pings_sent", 120, 8},
       {"acks_sent", 128, 8},
       {"timeouts", 136, 8},
       {"reserved", 144, 48}},
      {W(datagrams_received), W(datagrams_dropped), W(foreign_datagrams), W(malformed_commands),
       W(connects_accepted), W(connects_refused), W(packets_delivered), W(duplicates),
       W(out_of_order), W(unreliable_dropped), W(fragmented_dropped), W(reliable_sent),
       W(retransmits), W(sends_refused), W(pings_received), W(pings_sent), W(acks_sent),
       W(timeouts), W(reserved)});
}

TEST(GoldenLayout, GsControlCipherState) {
  checkLayout<GsControlCipherState>(
      "GsControlCipherState", 208,
      {{"next_outgoing_seq", 0, 4},
       {"incoming_valid", 4, 4},
       {"highest_incoming_seq", 8, 4},
       {"reserved0", 12, 4},
       {"replay_window", 16, 128},
       {"decrypted", 144, 8},
       {"encrypted", 152, 8},
       {"bad_tag", 160, 8},
       {"malformed", 168, 8},
       {"replayed", 176, 8},
       {"reserved1", 184, 24}},
      {W(next_outgoing_seq), W(incoming_valid), W(highest_incoming_seq), W(reserved0),
       W(replay_window), W(decrypted), W(encrypted), W(bad_tag), W(malformed), W(replayed),
       W(reserved1)});
}

TEST(GoldenLayout, GsEnetState) {
  checkLayout<GsEnetState>("GsEnetState", 14768,
                           {{"peer", 0, 128},
                            {"channels", 128, 256},
                            {"unsequenced_window", 384, 128},
                            {"counters", 512, 192},
                            {"outgoing", 704, 9728},
                            {"reassembly", 10432, 4128},
                            {"cipher", 14560, 208}},
                           {W(peer), W(channels), W(unsequenced_window), W(counters), W(outgoing),
                            W(reassembly), W(cipher)});
}

}  // namespace
}  // namespace funkhaus::abi
