// The owner's side of the net state page.
#include "funkhaus/common/net_state_page.h"

namespace funkhaus {

Result<SharedMemory> createNetStatePage(std::span<const abi::NetBlobRequest> blobs) {
  if (blobs.size() > abi::kMaxNetProtocols)
    return makeError("net state page: {} protocol blobs, at most {}", blobs.size(),
                     abi::kMaxNetProtocols);
  auto page = SharedMemory::create("funkhaus-net-state", abi::netStatePageSize(blobs));
  if (!page) return makeError("net state page: {}", page.error().message);
  abi::initNetStatePage(*reinterpret_cast<abi::NetStatePage*>(page->data()), blobs);
  return page;
}

}  // namespace funkhaus
