#include "recvault/control/secure_json.hpp"

#include <new>

namespace recvault::control {

void wipe_string(std::string& s) noexcept {
  // resize() to the capacity makes the spare bytes part of the string, so
  // wiping them is defined behaviour; it never reallocates.
  s.resize(s.capacity());
  crypto::secure_wipe(s.data(), s.size());
  s.clear();
}

void wipe_json_strings(nlohmann::json& j) noexcept {
  if (j.is_string()) {
    wipe_string(j.get_ref<std::string&>());
  } else if (j.is_object() || j.is_array()) {
    for (auto& child : j) wipe_json_strings(child);
  }
}

void wipe_json(nlohmann::json& j) noexcept {
  wipe_json_strings(j);
  j = nullptr;
}

SecureString dump_secure(const nlohmann::json& j) {
  SecureString out;
  out.reserve(1024);
  using Serializer = nlohmann::detail::serializer<nlohmann::json>;
  // The serializer batches characters in a 512-byte array of its own: on
  // the stack (what dump() does) it would leave key text in a thread's
  // stack. It lives in secure memory instead, wiped when released.
  void* storage = crypto::secure_allocate(sizeof(Serializer));
  struct Release {
    void* p;
    ~Release() { crypto::secure_deallocate(p, sizeof(Serializer)); }
  } release{storage};
  auto* s = new (storage) Serializer(nlohmann::detail::output_adapter<char, SecureString>(out), ' ',
                                     nlohmann::json::error_handler_t::replace);
  struct Destroy {
    Serializer* s;
    ~Destroy() { s->~Serializer(); }
  } destroy{s};
  s->dump(j, false, false, 0);
  return out;
}

}  // namespace recvault::control
