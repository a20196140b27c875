// The metrics registry and Prometheus's text format: exact text for known
// values, escaping, histogram buckets, the per-account filter, and counts
// that add up under concurrent updates.
#include <catch2/catch.hpp>

#include <array>
#include <thread>
#include <vector>

#include "recvault/metrics/exposition.hpp"
#include "recvault/metrics/metrics.hpp"

using namespace recvault::metrics;

TEST_CASE("counters, gauges and families render in the text format") {
  Registry r;
  r.counter("rv_things", "Things done.").inc(3);
  r.gauge("rv_level", "A level.").set(2.5);
  auto& per = r.counters("rv_bytes", "Bytes per account.", {"account"});
  per.with({"acme"}).inc(10);
  per.with({"beta"}).inc(1);
  per.with({"acme"}).inc(5);
  CHECK(r.render() ==
        "# HELP rv_things_total Things done.\n# TYPE rv_things_total counter\nrv_things_total 3\n"
        "# HELP rv_level A level.\n# TYPE rv_level gauge\nrv_level 2.5\n"
        "# HELP rv_bytes_total Bytes per account.\n# TYPE rv_bytes_total counter\n"
        "rv_bytes_total{account=\"acme\"} 15\nrv_bytes_total{account=\"beta\"} 1\n");
}

TEST_CASE("histograms have cumulative buckets, +Inf equal to the count, and a sum") {
  Registry r;
  const std::array<double, 3> bounds = {0.001, 0.01, 0.1};
  auto& h = r.histogram("rv_latency_seconds", "Latency.", bounds);
  h.observe(0.0005);
  h.observe(0.001);  // bounds are inclusive
  h.observe(0.05);
  h.observe(3);
  CHECK(r.render() ==
        "# HELP rv_latency_seconds Latency.\n# TYPE rv_latency_seconds histogram\n"
        "rv_latency_seconds_bucket{le=\"0.001\"} 2\n"
        "rv_latency_seconds_bucket{le=\"0.01\"} 2\n"
        "rv_latency_seconds_bucket{le=\"0.1\"} 3\n"
        "rv_latency_seconds_bucket{le=\"+Inf\"} 4\n"
        "rv_latency_seconds_sum 3.0515\n"
        "rv_latency_seconds_count 4\n");
  CHECK_THROWS(Histogram(std::array<double, 2>{1, 1}));
}

TEST_CASE("label values and help text are escaped") {
  Registry r;
  r.counters("rv_odd", "Help with \\ and\nnewline.", {"account"}).with({"a\"b\\c\nd"}).inc();
  CHECK(r.render() ==
        "# HELP rv_odd_total Help with \\\\ and\\nnewline.\n# TYPE rv_odd_total counter\n"
        "rv_odd_total{account=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST_CASE("values: integers exactly, special floats by name") {
  CHECK(format_value(0) == "0");
  CHECK(format_value(1e6) == "1000000");
  CHECK(format_value(0.00005) == "5e-05");
  CHECK(format_value(1.0 / 0.0) == "+Inf");
  CHECK(format_value(-1.0 / 0.0) == "-Inf");
  CHECK(format_value(0.0 / 0.0) == "NaN");
}

TEST_CASE("a filter hides other accounts' series, collectors included") {
  Registry r;
  auto& per = r.counters("rv_created", "Created.", {"account"});
  per.with({"acme"}).inc();
  per.with({"beta"}).inc();
  r.add_collector([](Exposition& out) {
    out.family("rv_open", "Open.", Type::gauge);
    out.sample("rv_open", {{"account", "acme"}}, std::uint64_t{2});
    out.sample("rv_open", {{"account", "beta"}}, std::uint64_t{3});
  });
  const std::string only_acme = r.render([](std::string_view a) { return a == "acme"; });
  CHECK(only_acme.find("acme") != std::string::npos);
  CHECK(only_acme.find("beta") == std::string::npos);
  CHECK(r.render().find("rv_open{account=\"beta\"} 3\n") != std::string::npos);
}

TEST_CASE("concurrent updates all count") {
  Registry r;
  auto& c = r.counters("rv_n", "N.", {"account"});
  auto& h = r.histogram("rv_h", "H.", latency_buckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.with({t % 2 ? "odd" : "even"}).inc();
        h.observe(0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(c.with({"odd"}).value() == 20000);
  CHECK(c.with({"even"}).value() == 20000);
  auto s = h.snapshot();
  CHECK(s.count == 40000);
  CHECK(s.cumulative.back() == 40000);
}

TEST_CASE("the process collector reports this process") {
  Exposition out;
  collect_process(out);
  const std::string& text = out.text();
  CHECK(text.find("process_cpu_seconds_total ") != std::string::npos);
  CHECK(text.find("process_resident_memory_bytes ") != std::string::npos);
  CHECK(text.find("process_open_fds ") != std::string::npos);
  CHECK(text.find("process_start_time_seconds ") != std::string::npos);
}
