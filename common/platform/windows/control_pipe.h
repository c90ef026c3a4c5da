// funkhausd's control pipe on Windows: who may open it (ControlServer's listener, and its test).
// Internal to the Windows implementation; includes <windows.h>. Any thread.
#pragma once

#include <optional>
#include <string>

namespace funkhaus::supervisor::windows {

// The pipe's security descriptor as SDDL: a protected DACL that gives SYSTEM, Administrators and,
// when `group_sid` is not empty, that group (S-1-5-...) full access, and nobody else any.
std::string controlPipeSddl(const std::string& group_sid);

// The SID of the local group or alias `name` as text (S-1-5-...), or nullopt when there is none.
std::optional<std::string> localGroupSid(const std::string& name);

}  // namespace funkhaus::supervisor::windows
