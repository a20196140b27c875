#include "client.hpp"

#include <sys/stat.h>
#include <cerrno>
#include <cstring>

#include <curl/curl.h>

namespace recvault::ctl {
namespace {

std::size_t on_body(char* p, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

ClientError connect_error(const std::string& socket_path, long os_errno) {
  if (os_errno == EACCES || os_errno == EPERM)
    return {kPermission, "permission denied on " + socket_path + " (are you in the socket's group?)"};
  if (os_errno == ENOENT || os_errno == ECONNREFUSED || os_errno == 0)
    return {kNotRunning, "cannot connect to " + socket_path + ": is recvaultd running? (" +
                             (os_errno != 0 ? std::strerror(static_cast<int>(os_errno)) : "no such socket") + ")"};
  return {kNotRunning, "cannot connect to " + socket_path + ": " + std::strerror(static_cast<int>(os_errno))};
}

}  // namespace

std::pair<std::optional<HttpReply>, std::optional<ClientError>> perform(const std::string& socket_path,
                                                                        const Call& call) {
  struct stat st {};
  if (::stat(socket_path.c_str(), &st) != 0) {
    int e = errno;
    return {std::nullopt, connect_error(socket_path, e)};
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return {std::nullopt, ClientError{kLocalError, "libcurl initialisation failed"}};
  HttpReply reply;
  curl_slist* headers = nullptr;
  for (const auto& h : call.headers) headers = curl_slist_append(headers, h.c_str());
  headers = curl_slist_append(headers, "Expect:");
  const std::string url = "http://localhost" + call.path;
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (call.body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body->size()));
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  CURLcode rc = curl_easy_perform(curl);
  std::optional<ClientError> error;
  if (rc == CURLE_COULDNT_CONNECT) {
    long os_errno = 0;
    curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
    error = connect_error(socket_path, os_errno);
  } else if (rc != CURLE_OK) {
    error = ClientError{kLocalError, std::string("request failed: ") + curl_easy_strerror(rc)};
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
    char* ct = nullptr;
    if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != nullptr) reply.content_type = ct;
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (error) return {std::nullopt, error};
  return {reply, std::nullopt};
}

}  // namespace recvault::ctl
