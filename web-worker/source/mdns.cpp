// libavahi-client behind mdns.h.
#include "funkhaus/web/mdns.h"

#include <avahi-client/client.h>
#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/thread-watch.h>
#include <avahi-common/timeval.h>
#include <spdlog/spdlog.h>

#include <atomic>

namespace funkhaus::web {

namespace {

constexpr const char* kServiceType = "_nvstream._tcp";
constexpr unsigned kRetryMs = 3000;  // without D-Bus, avahi-client does not wait by itself

class AvahiAnnouncer final : public MdnsAnnouncer {
 public:
  AvahiAnnouncer(std::string name, uint16_t port) : name_(std::move(name)), port_(port) {}

  ~AvahiAnnouncer() override {
    if (poll_ != nullptr) {
      avahi_threaded_poll_stop(poll_);
      if (client_ != nullptr) avahi_client_free(client_);  // frees the group too
      avahi_threaded_poll_free(poll_);
    }
  }

  void start() {
    poll_ = avahi_threaded_poll_new();
    if (poll_ == nullptr) {
      spdlog::warn("mDNS: cannot make avahi's poll thread; the host is not announced");
      return;
    }
    avahi_threaded_poll_lock(poll_);
    connect();
    avahi_threaded_poll_unlock(poll_);
    avahi_threaded_poll_start(poll_);
  }

  bool announced() const override { return announced_.load(); }

 private:
  // On the poll thread (or under its lock).
  void connect() {
    int error = 0;
    // NO_FAIL: without avahi-daemon the client waits for it to appear; without D-Bus it fails,
    // and a timer tries again.
    client_ = avahi_client_new(avahi_threaded_poll_get(poll_), AVAHI_CLIENT_NO_FAIL, onClient, this,
                               &error);
    if (client_ != nullptr) return;
    sayWaiting(avahi_strerror(error));
    const AvahiPoll* api = avahi_threaded_poll_get(poll_);
    timeval when{};
    avahi_elapse_time(&when, kRetryMs, 0);
    if (retry_ != nullptr)
      api->timeout_update(retry_, &when);
    else
      retry_ = api->timeout_new(api, &when, onRetry, this);
  }

  static void onRetry(AvahiTimeout*, void* data) { static_cast<AvahiAnnouncer*>(data)->connect(); }

  void sayWaiting(const char* why) {
    if (said_waiting_) return;
    said_waiting_ = true;
    spdlog::info(
        "mDNS: avahi-daemon is not running ({}); the host is announced once it runs "
        "(Moonlight can still add it by address)",
        why);
  }

  static void onClient(AvahiClient* client, AvahiClientState state, void* data) {
    auto* self = static_cast<AvahiAnnouncer*>(data);
    self->client_ = client;
    switch (state) {
      case AVAHI_CLIENT_S_RUNNING:
        self->publish();
        break;
      case AVAHI_CLIENT_S_COLLISION:
      case AVAHI_CLIENT_S_REGISTERING:
        self->announced_ = false;
        if (self->group_ != nullptr) avahi_entry_group_reset(self->group_);
        break;
      case AVAHI_CLIENT_CONNECTING:
        self->announced_ = false;
        if (!self->said_waiting_) {
          self->said_waiting_ = true;
          spdlog::info(
              "mDNS: avahi-daemon is not running; the host is announced once it runs "
              "(Moonlight can still add it by address)");
        }
        break;
      case AVAHI_CLIENT_FAILURE:
        self->announced_ = false;
        if (avahi_client_errno(client) == AVAHI_ERR_DISCONNECTED) {
          // The daemon went away: start over and wait for it.
          avahi_client_free(client);
          self->client_ = nullptr;
          self->group_ = nullptr;
          self->connect();
        } else {
          spdlog::warn("mDNS: {}", avahi_strerror(avahi_client_errno(client)));
        }
        break;
    }
  }

  static void onGroup(AvahiEntryGroup* group, AvahiEntryGroupState state, void* data) {
    auto* self = static_cast<AvahiAnnouncer*>(data);
    self->group_ = group;
    if (state == AVAHI_ENTRY_GROUP_ESTABLISHED) {
      self->announced_ = true;
      spdlog::info("mDNS: announced '{}' as {} on port {}", self->name_, kServiceType, self->port_);
    } else if (state == AVAHI_ENTRY_GROUP_COLLISION) {
      char* other = avahi_alternative_service_name(self->name_.c_str());
      spdlog::info("mDNS: the name '{}' is taken; announcing as '{}'", self->name_, other);
      self->name_ = other;
      avahi_free(other);
      avahi_entry_group_reset(group);
      self->publish();
    } else if (state == AVAHI_ENTRY_GROUP_FAILURE) {
      spdlog::warn("mDNS: {}", avahi_strerror(avahi_client_errno(self->client_)));
    }
  }

  void publish() {
    if (group_ == nullptr) group_ = avahi_entry_group_new(client_, onGroup, this);
    if (group_ == nullptr) {
      spdlog::warn("mDNS: {}", avahi_strerror(avahi_client_errno(client_)));
      return;
    }
    if (!avahi_entry_group_is_empty(group_)) return;
    int error = avahi_entry_group_add_service(group_, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
                                              static_cast<AvahiPublishFlags>(0), name_.c_str(),
                                              kServiceType, nullptr, nullptr, port_, nullptr);
    if (error == AVAHI_ERR_COLLISION) {
      char* other = avahi_alternative_service_name(name_.c_str());
      name_ = other;
      avahi_free(other);
      return publish();
    }
    if (error == 0) error = avahi_entry_group_commit(group_);
    if (error != 0) spdlog::warn("mDNS: announcing: {}", avahi_strerror(error));
  }

  std::string name_;
  uint16_t port_;
  AvahiThreadedPoll* poll_ = nullptr;
  AvahiClient* client_ = nullptr;
  AvahiEntryGroup* group_ = nullptr;
  AvahiTimeout* retry_ = nullptr;  // freed with the poll
  bool said_waiting_ = false;
  std::atomic<bool> announced_{false};
};

}  // namespace

std::unique_ptr<MdnsAnnouncer> MdnsAnnouncer::start(const std::string& name, uint16_t http_port) {
  auto announcer = std::make_unique<AvahiAnnouncer>(name, http_port);
  announcer->start();
  return announcer;
}

}  // namespace funkhaus::web
