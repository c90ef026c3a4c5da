// Small files that must survive crashes: atomic writes (temp file + fsync + rename), private
// directories, bounded reads, and moving a damaged file aside instead of overwriting it.
// Any thread; the functions touch only the paths they are given.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "funkhaus/common/result.h"

namespace funkhaus {

// Creates `dir` (and its parents) when missing and makes it mode `mode` (0700: state that only
// its owner may read). Error: it cannot be made, or is not a directory.
Result<void> ensurePrivateDirectory(const std::filesystem::path& dir, mode_t mode = 0700);

// Writes `data` to `path` so that a crash leaves either the old or the new content, never a
// mix: a temp file beside it (mode `mode`), fsync, rename over `path`, fsync of the directory.
Result<void> writeFileAtomic(const std::filesystem::path& path, std::string_view data,
                             mode_t mode = 0600);

// The whole file, at most `max_bytes` (a larger one is an error naming it). A missing file is
// an error with code kFailure and errno ENOENT noted in fileMissing().
Result<std::string> readSmallFile(const std::filesystem::path& path, size_t max_bytes);
bool fileMissing(const std::filesystem::path& path);

// Renames a damaged `path` to `<path>.bad-<UTC time>` (a number is appended if that exists) and
// returns the new path, so that nothing is lost and the owner can look at it.
Result<std::filesystem::path> moveAside(
    const std::filesystem::path& path,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace funkhaus
