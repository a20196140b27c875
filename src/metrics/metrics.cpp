#include "recvault/metrics/metrics.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "recvault/metrics/exposition.hpp"

namespace recvault::metrics {

Histogram::Histogram(std::span<const double> upper_bounds)
    : bounds_(upper_bounds.begin(), upper_bounds.end()),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds.size() + 1)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    throw std::invalid_argument("histogram bounds must increase");
  }
}

void Histogram::observe(double v) noexcept {
  // First bound >= v: bounds are inclusive upper limits.
  const auto i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::span<const double> latency_buckets() noexcept {
  static constexpr std::array<double, 16> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   10};
  return kBounds;
}

namespace {

// The labels of a child as Exposition takes them.
Labels label_pairs(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  Labels out;
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) out.emplace_back(names[i], values[i]);
  return out;
}

std::string sample_name(const std::string& name, Type type) { return type == Type::counter ? name + "_total" : name; }

}  // namespace

Counter& Registry::counter(std::string name, std::string help) {
  auto c = std::make_shared<Counter>();
  Counter& ref = *c;
  std::lock_guard lock(m_);
  owned_.push_back(c);
  std::string sample = sample_name(name, Type::counter);
  entries_.push_back({std::move(name), std::move(help), Type::counter,
                      [&ref, sample](Exposition& out) { out.sample(sample, {}, ref.value()); }});
  return ref;
}

Gauge& Registry::gauge(std::string name, std::string help) {
  auto g = std::make_shared<Gauge>();
  Gauge& ref = *g;
  std::lock_guard lock(m_);
  owned_.push_back(g);
  std::string sample = name;
  entries_.push_back({std::move(name), std::move(help), Type::gauge,
                      [&ref, sample](Exposition& out) { out.sample(sample, {}, ref.value()); }});
  return ref;
}

Histogram& Registry::histogram(std::string name, std::string help, std::span<const double> bounds) {
  auto h = std::make_shared<Histogram>(bounds);
  Histogram& ref = *h;
  std::lock_guard lock(m_);
  owned_.push_back(h);
  std::string sample = name;
  entries_.push_back({std::move(name), std::move(help), Type::histogram,
                      [&ref, sample](Exposition& out) { out.histogram(sample, {}, ref.snapshot()); }});
  return ref;
}

Family<Counter>& Registry::counters(std::string name, std::string help, std::vector<std::string> labels) {
  auto f = std::make_shared<Family<Counter>>(std::move(labels), [] { return std::make_unique<Counter>(); });
  Family<Counter>& ref = *f;
  std::lock_guard lock(m_);
  owned_.push_back(f);
  std::string sample = sample_name(name, Type::counter);
  entries_.push_back({std::move(name), std::move(help), Type::counter, [&ref, sample](Exposition& out) {
                        ref.each([&](const std::vector<std::string>& values, const Counter& c) {
                          out.sample(sample, label_pairs(ref.label_names(), values), c.value());
                        });
                      }});
  return ref;
}

Family<Gauge>& Registry::gauges(std::string name, std::string help, std::vector<std::string> labels) {
  auto f = std::make_shared<Family<Gauge>>(std::move(labels), [] { return std::make_unique<Gauge>(); });
  Family<Gauge>& ref = *f;
  std::lock_guard lock(m_);
  owned_.push_back(f);
  std::string sample = name;
  entries_.push_back({std::move(name), std::move(help), Type::gauge, [&ref, sample](Exposition& out) {
                        ref.each([&](const std::vector<std::string>& values, const Gauge& g) {
                          out.sample(sample, label_pairs(ref.label_names(), values), g.value());
                        });
                      }});
  return ref;
}

Family<Histogram>& Registry::histograms(std::string name, std::string help, std::vector<std::string> labels,
                                        std::span<const double> bounds) {
  std::vector<double> b(bounds.begin(), bounds.end());
  auto f = std::make_shared<Family<Histogram>>(std::move(labels), [b] { return std::make_unique<Histogram>(b); });
  Family<Histogram>& ref = *f;
  std::lock_guard lock(m_);
  owned_.push_back(f);
  std::string sample = name;
  entries_.push_back({std::move(name), std::move(help), Type::histogram, [&ref, sample](Exposition& out) {
                        ref.each([&](const std::vector<std::string>& values, const Histogram& h) {
                          out.histogram(sample, label_pairs(ref.label_names(), values), h.snapshot());
                        });
                      }});
  return ref;
}

void Registry::add_collector(std::function<void(Exposition&)> collect) {
  std::lock_guard lock(m_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::render(const std::function<bool(std::string_view account)>& account_visible) const {
  Exposition out(account_visible);
  std::lock_guard lock(m_);
  for (const auto& e : entries_) {
    out.family(e.name, e.help, e.type);
    e.write(out);
  }
  for (const auto& c : collectors_) c(out);
  return out.text();
}

}  // namespace recvault::metrics
