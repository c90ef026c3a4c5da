// The GameStream API's replies, in process, with a fake link to funkhausd.
#include "funkhaus/web/gamestream_api.h"

#include <gtest/gtest.h>

#include "funkhaus/web/crypto.h"
#include "temp_dir.h"
#include "vectors.h"

namespace funkhaus::web {
namespace {

using test::vec;
using test::vectorFile;

class FakeLink final : public SessionLink {
 public:
  void launch(const LaunchRequest& request, std::function<void(Result<uint16_t>)> done) override {
    launches.push_back(request);
    if (refuse)
      done(makeError("no graphical session"));
    else
      done(uint16_t{48010});
  }
  void cancel(const std::string& client, std::function<void(Result<void>)> done) override {
    cancels.push_back(client);
    done(Result<void>());
  }
  std::vector<LaunchRequest> launches;
  std::vector<std::string> cancels;
  bool refuse = false;
};

class ApiTest : public ::testing::Test {
 protected:
  ApiTest()
      : store_(*ClientStore::open(dir_.path() / "paired-clients.json")),
        pairing_(clock_, PairingHost{*PrivateKey::fromPem(vectorFile("host-key.pem")),
                                     *Certificate::fromPem(vectorFile("host-cert.pem"))}),
        api_(HostInfo{"box <1>", "0b5e2c3c-0000-4000-8000-000000000001", 47989, 47984},
             {App{1, "Desktop"}, App{5, "Steam Big Picture"}}, store_, pairing_, link_,
             [] { return int64_t{1700000123}; }) {}

  std::string get(const std::string& target, bool https = false, bool paired_cert = false) {
    ApiRequest r{target, https, "192.0.2.7", "192.0.2.1", std::nullopt};
    if (paired_cert || https) r.client_cert = client_cert_;
    std::string body;
    int calls = 0;
    api_.handle(r, [&](ApiResponse response) {
      ++calls;
      EXPECT_EQ(response.http_status, 200u);  // GameStream errors ride in the XML
      body = response.body;
    });
    EXPECT_EQ(calls, 1) << target;
    return body;
  }

  void pairClient() {
    ASSERT_TRUE(
        store_.add(PairedClient{client_cert_.fingerprint(), "roth", client_cert_.toPem(), 1, 0})
            .ok());
  }

  test::TempDir dir_;
  FakeClock clock_;
  ClientStore store_;
  PairingMachine pairing_;
  FakeLink link_;
  GamestreamApi api_;
  Certificate client_cert_ = *Certificate::fromPem(vectorFile("client-cert.pem"));
};

bool has(const std::string& body, const std::string& part) {
  return body.find(part) != std::string::npos;
}

TEST_F(ApiTest, ServerInfoOverHttpCarriesTheIdentityStrings) {
  const std::string body = get("/serverinfo?uniqueid=0123456789ABCDEF&uuid=x");
  EXPECT_TRUE(has(body, "<root status_code=\"200\">")) << body;
  EXPECT_TRUE(has(body, "<appversion>7.1.431.-1</appversion>"));
  EXPECT_TRUE(has(body, "<GfeVersion>3.23.0.74</GfeVersion>"));
  EXPECT_TRUE(has(body, "<state>SUNSHINE_SERVER_FREE</state>"));
  EXPECT_TRUE(has(body, "<currentgame>0</currentgame>"));
  EXPECT_TRUE(has(body, "<PairStatus>0</PairStatus>"));
  EXPECT_TRUE(has(body, "<HttpsPort>47984</HttpsPort>"));
  EXPECT_TRUE(has(body, "<ServerCodecModeSupport>1</ServerCodecModeSupport>"));
  EXPECT_TRUE(has(body, "<uniqueid>0b5e2c3c-0000-4000-8000-000000000001</uniqueid>"));
  EXPECT_TRUE(has(body, "<hostname>box &lt;1&gt;</hostname>"));
  EXPECT_FALSE(has(body, "MJOLNIR"));
}

TEST_F(ApiTest, HttpsWithAnUnknownCertificateGetsTheXml401) {
  for (const char* path : {"/serverinfo", "/applist", "/launch?appid=1", "/cancel", "/pair"}) {
    const std::string body = get(path, true);
    EXPECT_TRUE(has(body, "status_code=\"401\"")) << path << ": " << body;
  }
  ApiRequest no_cert{"/serverinfo", true, "192.0.2.7", "192.0.2.1", std::nullopt};
  std::string body;
  api_.handle(no_cert, [&](ApiResponse r) { body = r.body; });
  EXPECT_TRUE(has(body, "status_code=\"401\""));
}

TEST_F(ApiTest, PairedClientSeesPairStatusAndTheAppList) {
  pairClient();
  EXPECT_TRUE(has(get("/serverinfo", true), "<PairStatus>1</PairStatus>"));
  EXPECT_TRUE(has(get("/serverinfo", false, true), "<PairStatus>0</PairStatus>"));  // HTTP: 0
  const std::string apps = get("/applist", true);
  EXPECT_TRUE(has(apps,
                  "<App><IsHdrSupported>0</IsHdrSupported><AppTitle>Desktop</AppTitle>"
                  "<ID>1</ID></App>"))
      << apps;
  EXPECT_TRUE(has(apps, "<AppTitle>Steam Big Picture</AppTitle><ID>5</ID>"));
  EXPECT_TRUE(has(get("/pair?phrase=pairchallenge", true), "<paired>1</paired>"));
  EXPECT_EQ(store_.find(client_cert_.fingerprint())->last_seen, 1700000123);
  EXPECT_TRUE(has(get("/appasset?appid=1&AssetType=2&AssetIdx=0", true), "status_code=\"404\""));
  EXPECT_TRUE(has(get("/applist"), "status_code=\"404\""));  // HTTPS only
}

TEST_F(ApiTest, LaunchAsksFunkhausdAndAnswersWithTheLocalAddress) {
  pairClient();
  const std::string ok = get(
      "/launch?appid=5&mode=1920x1080x60&additionalStates=1&sops=0&rikey="
      "00112233445566778899AABBCCDDEEFF&rikeyid=-5&localAudioPlayMode=0&surroundAudioInfo=196610",
      true);
  EXPECT_TRUE(has(ok, "<sessionUrl0>rtsp://192.0.2.1:48010</sessionUrl0>")) << ok;
  EXPECT_TRUE(has(ok, "<gamesession>1</gamesession>"));
  ASSERT_EQ(link_.launches.size(), 1u);
  EXPECT_EQ(link_.launches[0].app.title, "Steam Big Picture");
  EXPECT_EQ(link_.launches[0].width, 1920u);
  EXPECT_EQ(link_.launches[0].rikeyid, -5);
  EXPECT_EQ(link_.launches[0].surround_info, 196610u);
  EXPECT_EQ(link_.launches[0].client_id, client_cert_.fingerprint());
  EXPECT_TRUE(has(get("/serverinfo", true), "<currentgame>5</currentgame>"));
  EXPECT_TRUE(has(get("/serverinfo", true), "SUNSHINE_SERVER_BUSY"));
  EXPECT_TRUE(has(get("/resume?rikey=00112233445566778899AABBCCDDEEFF&rikeyid=1", true),
                  "<resume>1</resume>"));
  EXPECT_TRUE(has(get("/cancel", true), "<cancel>1</cancel>"));
  EXPECT_TRUE(has(get("/serverinfo", true), "<currentgame>0</currentgame>"));
}

// A client that unpairs itself (Moonlight's "unpair" on the host) loses its stream too.
TEST_F(ApiTest, SelfUnpairEndsTheClientsStream) {
  pairClient();
  const std::string key = "&rikey=00112233445566778899AABBCCDDEEFF&rikeyid=1";
  EXPECT_TRUE(has(get("/launch?appid=1&mode=1280x720x60" + key, true), "<gamesession>1"));
  EXPECT_TRUE(has(get("/unpair", true), "status_code=\"200\""));
  EXPECT_EQ(store_.size(), 0u);
  EXPECT_EQ(link_.cancels, std::vector<std::string>{client_cert_.fingerprint()});
  // An unpaired client's request over HTTP cancels nothing.
  EXPECT_TRUE(has(get("/unpair?uniqueid=0123456789ABCDEF"), "status_code=\"200\""));
  EXPECT_EQ(link_.cancels.size(), 1u);
}

TEST_F(ApiTest, LaunchParametersAreValidated) {
  pairClient();
  const std::string key = "&rikey=00112233445566778899AABBCCDDEEFF&rikeyid=1";
  EXPECT_TRUE(has(get("/launch?appid=9&mode=1280x720x60" + key, true), "status_code=\"404\""));
  EXPECT_TRUE(has(get("/launch?appid=1&mode=1280x720" + key, true), "mode"));
  EXPECT_TRUE(has(get("/launch?appid=1&mode=1280x720x60x1" + key, true), "status_code=\"400\""));
  EXPECT_TRUE(has(get("/launch?appid=1&mode=1280x720x60&rikey=0011&rikeyid=1", true), "rikey"));
  EXPECT_TRUE(has(get("/launch?appid=1&mode=1280x720x60&rikey=00112233445566778899AABBCCDDEEFF&"
                      "rikeyid=99999999999",
                      true),
                  "rikeyid"));
  EXPECT_TRUE(has(get("/resume?" + key.substr(1), true), "nothing is running"));
  EXPECT_TRUE(link_.launches.empty());
  link_.refuse = true;
  const std::string refused = get("/launch?appid=1&mode=1280x720x60" + key, true);
  EXPECT_TRUE(has(refused, "status_code=\"503\"")) << refused;
  EXPECT_TRUE(has(refused, "no graphical session"));
  EXPECT_TRUE(has(get("/serverinfo", true), "<currentgame>0</currentgame>"));
}

TEST_F(ApiTest, WithoutFunkhausdLaunchSaysNoSessionIsAvailable) {
  pairClient();
  auto unavailable = SessionLink::createUnavailable();
  GamestreamApi api(HostInfo{"h", "id"}, {App{1, "Desktop"}}, store_, pairing_, *unavailable,
                    [] { return int64_t{0}; });
  ApiRequest r{"/launch?appid=1&mode=1280x720x60&rikey=00112233445566778899AABBCCDDEEFF&rikeyid=1",
               true, "192.0.2.7", "192.0.2.1", client_cert_};
  std::string body;
  api.handle(r, [&](ApiResponse response) { body = response.body; });
  EXPECT_TRUE(has(body, "status_code=\"503\""));
  EXPECT_TRUE(has(body, "no streaming session is available"));
}

TEST_F(ApiTest, PairingOverHttpWaitsForThePinAndStoresTheClient) {
  std::optional<std::string> phase1;
  ApiRequest r{
      "/pair?uniqueid=0123456789ABCDEF&uuid=1&devicename=roth&updateState=1&phrase="
      "getservercert&salt=" +
          vec("salt") + "&clientcert=" + vec("client_cert_hex"),
      false, "192.0.2.7", "192.0.2.1", std::nullopt};
  api_.handle(r, [&](ApiResponse response) { phase1 = response.body; });
  EXPECT_FALSE(phase1.has_value());  // waits for the PIN, the handler returned
  EXPECT_TRUE(has(get("/serverinfo"), "<PairStatus>0</PairStatus>"));  // others are served
  ASSERT_TRUE(pairing_.enterPin("1234").ok());
  ASSERT_TRUE(phase1.has_value());
  EXPECT_TRUE(has(*phase1, "<paired>1</paired><plaincert>")) << *phase1;
  // The host's random draws are real here, so only the shapes are checked; the vectors test
  // the values (pairing_test.cpp).
  const std::string challenge =
      get("/pair?devicename=roth&clientchallenge=" + vec("clientchallenge"));
  EXPECT_TRUE(has(challenge, "<challengeresponse>")) << challenge;
  const std::string secret = get("/pair?serverchallengeresp=" + vec("serverchallengeresp"));
  EXPECT_TRUE(has(secret, "<pairingsecret>")) << secret;
  // The client's hash was made for other host randoms: verification fails, nothing stored.
  const std::string final = get("/pair?clientpairingsecret=" + vec("clientpairingsecret"));
  EXPECT_TRUE(has(final, "<paired>0</paired>")) << final;
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(ApiTest, BadRequestsGetClearErrors) {
  EXPECT_TRUE(has(get("/pair?a=1&a=2"), "appears twice"));
  EXPECT_TRUE(has(get("/pair?phrase=getservercert&salt=00"), "needs salt and clientcert"));
  EXPECT_TRUE(has(get("/pair?phrase=getservercert&salt=00&clientcert=00"), "salt"));
  EXPECT_TRUE(has(get("/pair?clientchallenge=00"), "no pairing in progress"));
  EXPECT_TRUE(has(get("/nothing"), "status_code=\"404\""));
  EXPECT_TRUE(has(get("/unpair?uniqueid=0123456789ABCDEF"), "status_code=\"200\""));
  EXPECT_EQ(store_.size(), 0u);
}

}  // namespace
}  // namespace funkhaus::web
