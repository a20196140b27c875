// Counters, gauges and histograms, exposed in Prometheus's text format
// (exposition.hpp). A low layer: it depends on the standard library only, so
// every other module may count.
//
// Hot path: Counter::inc, Gauge::add and Histogram::observe are a few relaxed
// atomic operations, no lock. Family::with() (a labelled child) takes a
// shared lock and hashes its label values; callers on a hot path keep the
// returned reference (children live as long as the registry, never move).
//
// Names follow Prometheus's conventions: recvault_<what>_<unit>, counters end
// in _total (the caller writes it), seconds and bytes as base units.
// Label values are ids (account ids, operation names), never file names,
// keys or anything a recording says.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace recvault::metrics {

class Exposition;

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
  double value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Upper bounds are inclusive (Prometheus's "le"); +Inf is implicit.
class Histogram {
 public:
  explicit Histogram(std::span<const double> upper_bounds);
  void observe(double v) noexcept;

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  // Each bucket is read once; count is their sum, so +Inf always equals
  // count even while observations arrive.
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, 50 µs .. 10 s (FUSE requests, keystore calls).
std::span<const double> latency_buckets() noexcept;

enum class Type { counter, gauge, histogram };

// Children of one metric, one per combination of label values.
template <class M>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<M>()> make)
      : labels_(std::move(label_names)), make_(std::move(make)) {}

  // The child for these values (as many as label names), created on first use.
  M& with(std::initializer_list<std::string_view> values) {
    std::string key = join(values);
    {
      std::shared_lock lock(m_);
      auto it = children_.find(key);
      if (it != children_.end()) return *it->second.metric;
    }
    std::unique_lock lock(m_);
    auto [it, inserted] = children_.try_emplace(std::move(key));
    if (inserted) {
      it->second.values.assign(values.begin(), values.end());
      it->second.metric = make_();
    }
    return *it->second.metric;
  }

  const std::vector<std::string>& label_names() const noexcept { return labels_; }

  // Calls fn(values, metric) for each child, in label order.
  template <class Fn>
  void each(Fn&& fn) const {
    std::shared_lock lock(m_);
    for (const auto& [key, child] : children_) fn(child.values, *child.metric);
  }

 private:
  struct Child {
    std::vector<std::string> values;
    std::unique_ptr<M> metric;
  };
  static std::string join(std::initializer_list<std::string_view> values) {
    std::string key;
    for (auto v : values) {
      key.append(v);
      key.push_back('\0');
    }
    return key;
  }

  std::vector<std::string> labels_;
  std::function<std::unique_ptr<M>()> make_;
  mutable std::shared_mutex m_;
  std::map<std::string, Child, std::less<>> children_;
};

// Owns every metric of a process (one per daemon, no global). Registration
// happens at start; render() may run concurrently with updates.
class Registry {
 public:
  Counter& counter(std::string name, std::string help);
  Gauge& gauge(std::string name, std::string help);
  Histogram& histogram(std::string name, std::string help, std::span<const double> bounds);
  Family<Counter>& counters(std::string name, std::string help, std::vector<std::string> labels);
  Family<Gauge>& gauges(std::string name, std::string help, std::vector<std::string> labels);
  Family<Histogram>& histograms(std::string name, std::string help, std::vector<std::string> labels,
                                std::span<const double> bounds);

  // Values computed at scrape time (process CPU, open recordings, ...). The
  // collector writes its own families; it runs on the scraping thread.
  void add_collector(std::function<void(Exposition&)> collect);

  // The text exposition format, version 0.0.4. `account_visible` (if set)
  // hides every sample whose "account" label it refuses.
  std::string render(const std::function<bool(std::string_view account)>& account_visible = {}) const;

 private:
  // One family as it is written; registration order is exposition order.
  struct Entry {
    std::string name, help;
    Type type;
    std::function<void(Exposition&)> write;  // its samples
  };

  mutable std::mutex m_;
  std::vector<Entry> entries_;
  std::vector<std::shared_ptr<void>> owned_;
  std::vector<std::function<void(Exposition&)>> collectors_;
};

}  // namespace recvault::metrics
