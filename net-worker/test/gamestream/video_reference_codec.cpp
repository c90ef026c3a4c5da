// Test-only references for GameStream video FEC (see video_reference_codec.h).
#include "video_reference_codec.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <utility>

namespace funkhaus::net::gamestream::video_test {
namespace fs = std::filesystem;

uint8_t refMul(uint8_t a, uint8_t b) {
  unsigned x = a;
  unsigned product = 0;
  for (unsigned bits = b; bits != 0; bits >>= 1) {
    if (bits & 1) product ^= x;
    x <<= 1;
    if (x & 0x100) x ^= 0x11D;
  }
  return static_cast<uint8_t>(product);
}

uint8_t refInv(uint8_t a) {
  for (unsigned x = 1; x < 256; ++x) {
    if (refMul(a, static_cast<uint8_t>(x)) == 1) return static_cast<uint8_t>(x);
  }
  return 0;
}

uint8_t refCoefficient(int parity, int row, int column) {
  return refInv(static_cast<uint8_t>((parity + column) ^ row));
}

void refEncode(int data, int parity, std::vector<std::vector<uint8_t>>& shards) {
  const size_t size = shards[0].size();
  for (int j = 0; j < parity; ++j) {
    std::vector<uint8_t>& out = shards[static_cast<size_t>(data + j)];
    out.assign(size, 0);
    for (int i = 0; i < data; ++i) {
      const uint8_t c = refCoefficient(parity, j, i);
      for (size_t k = 0; k < size; ++k) out[k] ^= refMul(c, shards[static_cast<size_t>(i)][k]);
    }
  }
}

bool refDecode(int data, int parity, std::vector<std::vector<uint8_t>>& shards,
               const std::vector<bool>& missing) {
  const size_t size = shards[0].size();
  // The generator row of each received shard (identity for data, Cauchy for parity) and its
  // bytes: data rows of the system [G | y]; solve G x = y for the data shards x.
  std::vector<std::vector<uint8_t>> rows;
  std::vector<std::vector<uint8_t>> values;
  for (int s = 0; s < data + parity && static_cast<int>(rows.size()) < data; ++s) {
    if (missing[static_cast<size_t>(s)]) continue;
    std::vector<uint8_t> row(static_cast<size_t>(data), 0);
    if (s < data) {
      row[static_cast<size_t>(s)] = 1;
    } else {
      for (int i = 0; i < data; ++i)
        row[static_cast<size_t>(i)] = refCoefficient(parity, s - data, i);
    }
    rows.push_back(std::move(row));
    values.push_back(shards[static_cast<size_t>(s)]);
  }
  if (static_cast<int>(rows.size()) < data) return false;
  for (int col = 0; col < data; ++col) {
    size_t pivot = static_cast<size_t>(col);
    while (pivot < rows.size() && rows[pivot][static_cast<size_t>(col)] == 0) ++pivot;
    if (pivot == rows.size()) return false;  // singular: the matrix is not MDS
    std::swap(rows[pivot], rows[static_cast<size_t>(col)]);
    std::swap(values[pivot], values[static_cast<size_t>(col)]);
    std::vector<uint8_t>& prow = rows[static_cast<size_t>(col)];
    std::vector<uint8_t>& pval = values[static_cast<size_t>(col)];
    const uint8_t scale = refInv(prow[static_cast<size_t>(col)]);
    for (auto& v : prow) v = refMul(v, scale);
    for (auto& v : pval) v = refMul(v, scale);
    for (size_t r = 0; r < rows.size(); ++r) {
      const uint8_t f = rows[r][static_cast<size_t>(col)];
      if (r == static_cast<size_t>(col) || f == 0) continue;
      for (int c = 0; c < data; ++c) {
        rows[r][static_cast<size_t>(c)] ^= refMul(f, prow[static_cast<size_t>(c)]);
      }
      for (size_t k = 0; k < size; ++k) values[r][k] ^= refMul(f, pval[k]);
    }
  }
  for (int i = 0; i < data; ++i) {
    if (missing[static_cast<size_t>(i)])
      shards[static_cast<size_t>(i)] = values[static_cast<size_t>(i)];
  }
  return true;
}

namespace {

constexpr const char* kArchive = "moonlight-common-c-874ac95.tar.gz";

std::string findArchive() {
  if (const char* dir = std::getenv("FUNKHAUS_TEST_CLIENTS"); dir != nullptr && *dir != 0) {
    const fs::path p = fs::path(dir) / kArchive;
    return fs::exists(p) ? p.string() : std::string();
  }
  for (fs::path dir = FUNKHAUS_SOURCE_DIR; !dir.empty(); dir = dir.parent_path()) {
    const fs::path p = dir / "shared" / "third_party" / kArchive;
    if (fs::exists(p)) return p.string();
    if (dir == dir.parent_path()) break;
  }
  const fs::path p = fs::path("/work/shared/third_party") / kArchive;
  return fs::exists(p) ? p.string() : std::string();
}

// Writes a code's parity rows the way the client installs its audio matrix (memcpy into p[]).
constexpr const char* kShim =
    "#include <string.h>\n"
    "#include \"rs.h\"\n"
    "void funkhaus_rs_set_matrix(reed_solomon *rs, const uint8_t *m, size_t n)\n"
    "{ memcpy(rs->p, m, n); }\n";

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

std::unique_ptr<ClientDecoder> ClientDecoder::load(std::string& why, bool& failed) {
  failed = false;
  const std::string archive = findArchive();
  if (archive.empty()) {
    why = std::string(kArchive) +
          " not found (set FUNKHAUS_TEST_CLIENTS to the directory holding it)";
    return nullptr;
  }
  const char* cc_env = std::getenv("CC");
  const std::string cc = cc_env != nullptr && *cc_env != 0 ? cc_env : "cc";
  if (std::system((quote(cc) + " --version >/dev/null 2>&1").c_str()) != 0) {
    why = "no C compiler (" + cc + ") to build the client's decoder";
    return nullptr;
  }
  std::unique_ptr<ClientDecoder> decoder(new ClientDecoder);
  decoder->archive_ = archive;
  std::string templ = (fs::temp_directory_path() / "funkhaus-nanors-XXXXXX").string();
  if (mkdtemp(templ.data()) == nullptr) {
    why = "mkdtemp failed";
    failed = true;
    return nullptr;
  }
  decoder->dir_ = templ;
  const std::string root = decoder->dir_ + "/moonlight-common-c/nanors";
  const std::string lib = decoder->dir_ + "/libnanors.so";
  const std::string extract = "tar -xzf " + quote(archive) + " -C " + quote(decoder->dir_) +
                              " moonlight-common-c/nanors/rs.c moonlight-common-c/nanors/rs.h "
                              "moonlight-common-c/nanors/deps/obl";
  const std::string shim = decoder->dir_ + "/funkhaus_rs_shim.c";
  const std::string build = quote(cc) + " -O2 -shared -fPIC -std=gnu11 -w -I" + quote(root) +
                            " -I" + quote(root + "/deps/obl") + " " + quote(root + "/rs.c") + " " +
                            quote(root + "/deps/obl/oblas_common.c") + " " +
                            quote(root + "/deps/obl/oblas_lite.c") + " " + quote(shim) + " -o " +
                            quote(lib);
  bool shim_written = false;
  if (FILE* f = std::fopen(shim.c_str(), "w"); f != nullptr) {
    shim_written = std::fputs(kShim, f) >= 0;
    shim_written = std::fclose(f) == 0 && shim_written;
  }
  if (!shim_written || std::system(extract.c_str()) != 0 || std::system(build.c_str()) != 0) {
    why = "extracting or building nanors from " + archive + " failed";
    failed = true;
    return nullptr;
  }
  decoder->handle_ = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (decoder->handle_ == nullptr) {
    why = std::string("dlopen: ") + dlerror();
    failed = true;
    return nullptr;
  }
  auto sym = [&](const char* name) { return dlsym(decoder->handle_, name); };
  decoder->new_ = reinterpret_cast<void* (*)(int, int)>(sym("reed_solomon_new"));
  decoder->release_ = reinterpret_cast<void (*)(void*)>(sym("reed_solomon_release"));
  decoder->encode_ =
      reinterpret_cast<int (*)(void*, uint8_t**, int, int)>(sym("reed_solomon_encode"));
  decoder->decode_ =
      reinterpret_cast<int (*)(void*, uint8_t**, uint8_t*, int, int)>(sym("reed_solomon_decode"));
  decoder->set_matrix_ =
      reinterpret_cast<void (*)(void*, const uint8_t*, size_t)>(sym("funkhaus_rs_set_matrix"));
  auto init = reinterpret_cast<void (*)()>(sym("reed_solomon_init"));
  if (!decoder->new_ || !decoder->release_ || !decoder->encode_ || !decoder->decode_ ||
      !decoder->set_matrix_ || !init) {
    why = "nanors symbols missing";
    failed = true;
    return nullptr;
  }
  init();
  return decoder;
}

ClientDecoder::~ClientDecoder() {
  if (handle_ != nullptr) dlclose(handle_);
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

bool ClientDecoder::encode(int data, int parity, std::vector<std::vector<uint8_t>>& shards,
                           const std::vector<uint8_t>& matrix) const {
  void* rs = new_(data, parity);
  if (rs == nullptr) return false;
  if (!matrix.empty()) set_matrix_(rs, matrix.data(), matrix.size());
  std::vector<uint8_t*> ptrs;
  for (auto& s : shards) ptrs.push_back(s.data());
  const int ret = encode_(rs, ptrs.data(), data + parity, static_cast<int>(shards[0].size()));
  release_(rs);
  return ret == 0;
}

bool ClientDecoder::decode(int data, int parity, std::vector<std::vector<uint8_t>>& shards,
                           const std::vector<bool>& missing,
                           const std::vector<uint8_t>& matrix) const {
  void* rs = new_(data, parity);
  if (rs == nullptr) return false;
  if (!matrix.empty()) set_matrix_(rs, matrix.data(), matrix.size());
  const size_t size = shards[0].size();
  std::vector<uint8_t*> ptrs;
  std::vector<uint8_t> marks;
  for (size_t s = 0; s < shards.size(); ++s) {
    if (missing[s]) shards[s].assign(size, 0xEE);  // the decoder must overwrite these
    ptrs.push_back(shards[s].data());
    marks.push_back(missing[s] ? 1 : 0);
  }
  const int ret = decode_(rs, ptrs.data(), marks.data(), data + parity, static_cast<int>(size));
  release_(rs);
  return ret == 0;
}

}  // namespace funkhaus::net::gamestream::video_test
