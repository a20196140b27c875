// Wiping the JSON and text that carried key material through the control
// API (GET/PUT config bodies), so freed memory does not keep key text.
//
// What is covered: our own buffers (the request body, the parsed JSON's
// string values, the serialized response, the response buffer handed to
// libmicrohttpd, the received bytes in libmicrohttpd's read buffer). Not
// covered: nlohmann's lexer scratch buffers while parsing (short-lived heap
// blocks, partly overwritten when freed) and the kernel's socket buffers.
// docs/KEYSTORE.md ("Key material in memory") has the whole list.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "recvault/crypto/secret.hpp"

namespace recvault::control {

// A string in wiped-on-free, locked, dont-dump memory (crypto::SecureAllocator).
using SecureString = std::basic_string<char, std::char_traits<char>, crypto::SecureAllocator<char>>;

// Overwrites the whole buffer (size and spare capacity) with zeros, then
// empties the string. The allocation is kept (and will be freed clean).
void wipe_string(std::string& s) noexcept;

// Wipes every string value of `j` in place (recursively, wipe_string): the
// structure stays, every string is empty. Object member names are not wiped
// (they are field names, never secrets).
void wipe_json_strings(nlohmann::json& j) noexcept;
// wipe_json_strings, then j = null (the now clean blocks are freed).
void wipe_json(nlohmann::json& j) noexcept;

// j.dump() with the same bytes, serialized straight into secure memory: no
// intermediate std::string reallocation leaves a copy of a key behind.
SecureString dump_secure(const nlohmann::json& j);

}  // namespace recvault::control
