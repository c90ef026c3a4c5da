// funkhausd's side of requests to a worker run by a FakeSupervisor: send one request (JSON text)
// on the channel and wait for its reply; and answer the requests a worker sends. Test processes
// only, on the test's thread (not while the FakeSupervisor listens).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "funkhaus/common/result.h"
#include "funkhaus/test/fake_supervisor.h"

namespace funkhaus::test {

// Sends `text` as a request and returns the reply's text. Requests the worker sends meanwhile
// are answered by `responder` (default: {"ok":false,"error":"..."}). Error: timeout or EOF.
Result<std::string> askWorker(
    FakeSupervisor& supervisor, const std::string& text,
    std::chrono::milliseconds timeout = std::chrono::seconds(5),
    const std::function<std::string(const std::string&)>& responder = nullptr);

// Receives for up to `timeout` and answers every request the worker sends with `responder`.
// Returns how many requests were answered.
int serveWorkerRequests(FakeSupervisor& supervisor,
                        const std::function<std::string(const std::string&)>& responder,
                        std::chrono::milliseconds timeout);

}  // namespace funkhaus::test
