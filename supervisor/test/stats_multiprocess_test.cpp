// The stats recorder in a real funkhausd with real workers: a capture of the running pipeline
// through the control socket and funkhausctl, and one armed when funkhausd is SIGKILLed, found
// again (complete=false, its samples kept) by the next funkhausd on the same state directory.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "funkhausd_process.h"

namespace funkhaus {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::Funkhausd;
using namespace std::chrono_literals;

// A command's stdout and exit status.
std::pair<std::string, int> run(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

size_t nonNull(const json& values) {
  size_t n = 0;
  for (const auto& v : values) n += v.is_number();
  return n;
}

TEST(FunkhausdStats, ACaptureOfTheRunningPipelineHasCaptureAndEncodeFps) {
  Funkhausd d;
  ASSERT_TRUE(d.waitAllRunning()) << d.log();
  const std::string ctl = std::string(FUNKHAUS_BIN_DIR) + "/funkhausctl --socket " + d.socket();
  const auto [started, start_rc] = run(ctl + " stats start --name mp");
  ASSERT_EQ(start_rc, 0) << started << d.log();
  const json list = d.call(R"({"cmd":"stats-list"})");
  ASSERT_TRUE(list["armed"].is_string()) << list.dump();
  const std::string id = list["armed"].get<std::string>();
  EXPECT_NE(started.find(id), std::string::npos);
  EXPECT_NE(d.call(R"({"cmd":"stats-start"})")["error"].get<std::string>().find("is armed"),
            std::string::npos);
  std::this_thread::sleep_for(3500ms);
  const json stopped = d.call(R"({"cmd":"stats-stop"})");
  ASSERT_EQ(stopped["ok"], true) << stopped.dump();
  EXPECT_GE(stopped["samples"].get<int>(), 3);

  const fs::path dir = d.dir() / "state" / "funkhaus" / "stats";
  struct stat st {};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((dir / (id + ".json")).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(dir / (id + ".json"));
  const json file = json::parse(in, nullptr, false);
  ASSERT_TRUE(file.is_object());
  EXPECT_EQ(file["complete"], true);
  EXPECT_EQ(file["name"], "mp");
  const size_t samples = file["t"].size();
  EXPECT_GE(samples, 3u);
  for (const char* series : {"capture.fps", "encode.fps", "encode.cpu_percent", "encode.rss_mb"}) {
    ASSERT_TRUE(file["series"].contains(series)) << series << " " << file["series"].dump();
    EXPECT_EQ(file["series"][series].size(), samples) << series;
    EXPECT_GE(nonNull(file["series"][series]), samples - 1) << series;
  }
  for (const auto& v : file["series"]["encode.fps"])
    if (v.is_number()) {
      EXPECT_GT(v.get<double>(), 0.0);
    }

  // A page of it, as the console asks for one (a worker channel's reply holds 64 KiB).
  const json page = d.call(R"({"cmd":"stats-show","id":")" + id + R"(","from":1,"count":2})");
  ASSERT_EQ(page["ok"], true) << page.dump();
  EXPECT_EQ(page["capture"]["t"], json({file["t"][1], file["t"][2]}));
  EXPECT_EQ(page["capture"]["series"]["encode.fps"].size(), 2u);
  EXPECT_EQ(page["capture"]["samples"], samples);

  // funkhausctl's views: the list, the table, CSV (a row per second), JSON.
  const auto [listed, list_rc] = run(ctl + " stats list");
  EXPECT_EQ(list_rc, 0);
  EXPECT_NE(listed.find(id), std::string::npos) << listed;
  EXPECT_NE(listed.find("complete"), std::string::npos) << listed;
  const auto [table, show_rc] = run(ctl + " stats show " + id);
  EXPECT_EQ(show_rc, 0);
  EXPECT_NE(table.find("encode.fps"), std::string::npos) << table;
  const auto [csv, csv_rc] = run(ctl + " stats export " + id + " --csv");
  EXPECT_EQ(csv_rc, 0);
  EXPECT_EQ(csv.rfind("t,", 0), 0u) << csv;
  EXPECT_EQ(static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n')), samples + 1) << csv;
  const auto [exported, json_rc] = run(ctl + " stats export " + id + " --json");
  EXPECT_EQ(json_rc, 0);
  EXPECT_EQ(json::parse(exported, nullptr, false), file);
  EXPECT_EQ(run(ctl + " stats show ../../etc/passwd 2>&1").second, 2) << "refused before sending";
  EXPECT_EQ(run(ctl + " stats export " + id + " 2>&1").second, 2) << "--csv or --json";
  const auto [logs, logs_rc] = run(ctl + " logs --seconds 60");
  EXPECT_EQ(logs_rc, 0);
  EXPECT_NE(logs.find("stats: capture " + id + " armed"), std::string::npos) << logs;
  EXPECT_EQ(run(ctl + " stats rm " + id).second, 0);
  EXPECT_FALSE(fs::exists(dir / (id + ".json")));
  EXPECT_EQ(run(ctl + " stats rm " + id + " 2>/dev/null").second, 1);

  // funkhausd stopping (SIGTERM) saves the armed capture complete.
  const json second = d.call(R"({"cmd":"stats-start","name":"term"})");
  ASSERT_EQ(second["ok"], true) << second.dump();
  std::this_thread::sleep_for(1500ms);
  const int status = d.stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::ifstream term(dir / (second["id"].get<std::string>() + ".json"));
  const json saved = json::parse(term, nullptr, false);
  ASSERT_TRUE(saved.is_object());
  EXPECT_EQ(saved["complete"], true);
  EXPECT_TRUE(saved["stopped_unix_ms"].is_number_integer());
  EXPECT_GE(saved["t"].size(), 1u);
}

TEST(FunkhausdStats, ACaptureArmedWhenFunkhausdIsKilledIsKeptUpToItsLastSave) {
  const fs::path state =
      fs::temp_directory_path() / ("funkhausd-stats-state-" + std::to_string(getpid()));
  fs::remove_all(state);
  Funkhausd::state_home = state;
  std::string id;
  {
    Funkhausd d;
    ASSERT_TRUE(d.waitAllRunning()) << d.log();
    const json started = d.call(R"({"cmd":"stats-start","name":"crash"})");
    ASSERT_EQ(started["ok"], true) << started.dump();
    id = started["id"].get<std::string>();
    std::this_thread::sleep_for(11500ms);  // past the save at 10 samples
    d.stop(SIGKILL);
  }
  Funkhausd again;
  Funkhausd::state_home.reset();
  ASSERT_TRUE(again.waitAllRunning()) << again.log();
  const json list = again.call(R"({"cmd":"stats-list"})");
  ASSERT_EQ(list["ok"], true) << list.dump();
  EXPECT_TRUE(list["armed"].is_null());
  ASSERT_EQ(list["captures"].size(), 1u) << list.dump();
  EXPECT_EQ(list["captures"][0]["id"], id);
  EXPECT_EQ(list["captures"][0]["complete"], false);
  EXPECT_GE(list["captures"][0]["samples"].get<int>(), 10);
  const json shown = again.call(R"({"cmd":"stats-show","id":")" + id + R"("})");
  ASSERT_EQ(shown["ok"], true) << shown.dump();
  EXPECT_GE(shown["capture"]["t"].size(), 10u);
  EXPECT_GE(nonNull(shown["capture"]["series"]["capture.fps"]), 9u);
  EXPECT_NE(again.log().find("was armed when funkhausd stopped"), std::string::npos);
  fs::remove_all(state);
}

}  // namespace
}  // namespace funkhaus
