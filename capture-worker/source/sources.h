// Factories of the concrete capture sources, behind CaptureSource::create().
// Used on the capture worker's main thread.
#pragma once

#include "funkhaus/capture/capture_source.h"

namespace funkhaus::capture {

Result<std::unique_ptr<CaptureSource>> createSyntheticSource(const SourceConfig& config,
                                                             uint64_t payload_capacity,
                                                             SourceFailure* failure);
Result<std::unique_ptr<CaptureSource>> createVdisplaySource(const SourceConfig& config,
                                                            uint64_t payload_capacity,
                                                            SourceFailure* failure);
Result<std::unique_ptr<CaptureSource>> createX11Source(const SourceConfig& config,
                                                       uint64_t payload_capacity,
                                                       SourceFailure* failure);

}  // namespace funkhaus::capture
