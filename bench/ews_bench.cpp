// EWS benchmarks, side by side in one run.
//
//   ews_bench parse [mailboxes=100] [events=200]
//     Builds a large GetUserAvailability answer (Detailed view, `events` events
//     per mailbox) and reports parse rates in MB/s: the streaming reader alone
//     (expat with our namespace handling, no tree), the tree, and the tree plus
//     the availability model. The caller (bench/ews.sh) adds Python's
//     ElementTree (also expat-based, in C) on the same file as a reference.
//
//   ews_bench roundtrip URL [seconds=5] [concurrency=16] [mailboxes=1]
//     GetUserAvailability round trips per second against the simulator at URL
//     (Basic auth as the fixture's service account), through the EWS client (envelope, pooled HTTP,
//     XML parse, model), and the same envelope posted by the bare HTTP client
//     with no EWS work, as the ceiling of what the simulator serves.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "net/http/client.hpp"
#include "proto/ews/availability.hpp"
#include "proto/ews/client.hpp"
#include "proto/ews/soap.hpp"
#include "proto/xml/reader.hpp"
#include "proto/xml/tree.hpp"
#include "rt/datetime.hpp"
#include "rt/loop.hpp"
#include "rt/run.hpp"
#include "rt/when_all.hpp"

using namespace calgate;
using namespace std::chrono;
using clock_type = steady_clock;

namespace {

std::string big_answer(int mailboxes, int events) {
  std::string s =
      R"(<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/></s:Header><s:Body><GetUserAvailabilityResponse xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"><FreeBusyResponseArray>)";
  const char* t = R"( xmlns="http://schemas.microsoft.com/exchange/services/2006/types")";
  for (int m = 0; m < mailboxes; ++m) {
    s += R"(<FreeBusyResponse><ResponseMessage ResponseClass="Success"><ResponseCode>NoError</ResponseCode></ResponseMessage><FreeBusyView><FreeBusyViewType)";
    s += t;
    s += ">Detailed</FreeBusyViewType><CalendarEventArray";
    s += t;
    s += ">";
    for (int e = 0; e < events; ++e) {
      int day = 1 + e % 28, hour = 8 + e % 9;
      char buf[640];
      std::snprintf(buf, sizeof buf,
                    "<CalendarEvent><StartTime>2026-12-%02dT%02d:00:00</StartTime><EndTime>2026-12-%02dT%02d:30:00</"
                    "EndTime><BusyType>Busy</BusyType><CalendarEventDetails><ID>AAMkADk3YjQ4ZTc0LTM2NzktNDk%06d%04d</"
                    "ID><Subject>Project review &amp; planning %d</Subject><Location>Building 4, room %d</"
                    "Location><IsMeeting>true</IsMeeting><IsRecurring>false</IsRecurring><IsException>false</"
                    "IsException><IsReminderSet>true</IsReminderSet><IsPrivate>false</IsPrivate></"
                    "CalendarEventDetails></CalendarEvent>",
                    day, hour, day, hour, m, e, e, e % 40);
      s += buf;
    }
    s += "</CalendarEventArray></FreeBusyView></FreeBusyResponse>";
  }
  s += "</FreeBusyResponseArray></GetUserAvailabilityResponse></s:Body></s:Envelope>";
  return s;
}

struct counting_handler final : xml::handler {
  std::size_t elements = 0, text_bytes = 0;
  void start(std::string_view, std::string_view, std::span<const xml::attribute>) override { ++elements; }
  void end(std::string_view, std::string_view) override {}
  void text(std::string_view p) override { text_bytes += p.size(); }
};

template <class F>
double mb_per_s(const std::string& doc, F&& f) {
  // Enough repetitions for about a second, best of three.
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    int reps = 0;
    auto t0 = clock_type::now();
    do {
      f();
      ++reps;
    } while (clock_type::now() - t0 < milliseconds(1000));
    double secs = duration<double>(clock_type::now() - t0).count();
    best = std::max(best, static_cast<double>(doc.size()) * reps / secs / 1e6);
  }
  return best;
}

int parse_bench(int mailboxes, int events, const char* dump) {
  std::string doc = big_answer(mailboxes, events);
  if (dump) {
    FILE* f = std::fopen(dump, "wb");
    if (!f) return 1;
    std::fwrite(doc.data(), 1, doc.size(), f);
    std::fclose(f);
  }
  proto::ews::availability_query q;
  for (int m = 0; m < mailboxes; ++m) q.mailboxes.push_back({"user" + std::to_string(m) + "@corp.example"});
  q.start = rt::parse_datetime("2026-12-01T00:00:00Z")->utc;
  q.end = rt::parse_datetime("2026-12-29T00:00:00Z")->utc;
  q.requested = proto::ews::view::detailed;
  // Correctness first: the model holds every event.
  auto tree = xml::parse(doc);
  auto model = tree ? proto::ews::parse_availability(*tree, q) : tree.error();
  if (!model || model->size() != static_cast<std::size_t>(mailboxes) ||
      (*model)[0].events.size() != static_cast<std::size_t>(events)) {
    std::fprintf(stderr, "the generated answer does not parse\n");
    return 1;
  }
  double stream = mb_per_s(doc, [&] {
    counting_handler h;
    xml::reader r(h);
    r.feed(doc);
    if (!r.finish()) std::abort();
  });
  double as_tree = mb_per_s(doc, [&] {
    auto t = xml::parse(doc);
    if (!t) std::abort();
  });
  double full = mb_per_s(doc, [&] {
    auto t = xml::parse(doc);
    auto m = proto::ews::parse_availability(*t, q);
    if (!m) std::abort();
  });
  std::printf("document: %.1f MB, %d mailboxes x %d detailed events\n", doc.size() / 1e6, mailboxes, events);
  std::printf("%-44s %8.1f MB/s\n", "streaming reader (events only)", stream);
  std::printf("%-44s %8.1f MB/s\n", "tree (xml::parse)", as_tree);
  std::printf("%-44s %8.1f MB/s  (%.0f mailbox answers/s)\n", "tree + availability model", full,
              full * 1e6 / static_cast<double>(doc.size()) * mailboxes);
  return 0;
}

struct tally {
  std::size_t ok = 0, failed = 0;
};

int roundtrip_bench(const std::string& url, int seconds, int concurrency, int mailboxes) {
  // The simulator fixture's service account (tests/fixtures/exchange/sim.toml).
  const std::string user = "CORP\\svc-calgate", password = "Gateway-Pass-1";
  rt::loop loop;
  double ews_rate = 0, raw_rate = 0;
  tally ews_tally, raw_tally;
  std::uint64_t sent = 0;
  rt::run(loop, [&]() -> rt::task<void> {
    net::http::client_options ho;
    ho.max_per_origin = static_cast<std::uint32_t>(concurrency);
    net::http::client http(ho);
    proto::ews::endpoint_options eo;
    eo.url = url;
    proto::ews::account a;
    a.name = "bench";
    a.auth = proto::ews::auth_kind::basic;
    a.user = user;
    a.password = password;
    a.max_concurrency = static_cast<std::size_t>(concurrency);
    eo.accounts.push_back(a);
    proto::ews::client ews(http, eo);

    proto::ews::availability_request req;
    for (int m = 1; m <= mailboxes; ++m) {
      char addr[64];
      std::snprintf(addr, sizeof addr, "user%05d@corp.example", m);
      req.mailboxes.push_back({addr});
    }
    req.start = rt::parse_datetime("2026-11-23T00:00:00Z")->utc;
    req.end = rt::parse_datetime("2026-11-30T00:00:00Z")->utc;

    auto run_for = [&](auto& one) -> rt::task<double> {
      auto until = clock_type::now() + std::chrono::seconds(seconds);
      auto t0 = clock_type::now();
      std::size_t done = 0;
      auto worker = [&]() -> rt::task<void> {
        while (clock_type::now() < until) {
          co_await one();
          ++done;
        }
      };
      std::vector<rt::task<void>> ws;
      for (int i = 0; i < concurrency; ++i) ws.push_back(worker());
      co_await rt::when_all(std::move(ws));
      co_return static_cast<double>(done) / duration<double>(clock_type::now() - t0).count();
    };

    auto ews_one = [&]() -> rt::task<void> {
      auto r = co_await ews.get_user_availability(req);
      bool good = r && !r->empty() && !(*r)[0].error;
      ++(good ? ews_tally.ok : ews_tally.failed);
    };
    // The same envelope, sent as bytes with the same credentials; no EWS work.
    proto::ews::availability_query q;
    q.mailboxes = req.mailboxes;
    q.start = req.start;
    q.end = req.end;
    const std::string env = proto::ews::envelope("Exchange2013", proto::ews::availability_body(q));
    const std::string auth = net::http::basic_auth(user, password);
    auto raw_one = [&]() -> rt::task<void> {
      net::http::client_request r("POST", url);
      r.headers.add("Content-Type", "text/xml; charset=utf-8");
      r.headers.add("Authorization", auth);
      r.body = env;
      auto resp = co_await http.send(std::move(r));
      ++(resp && resp->status == 200 ? raw_tally.ok : raw_tally.failed);
    };
    // Warm up both paths (connections, caches), then alternate.
    co_await ews_one();
    co_await raw_one();
    ews_tally = {};
    raw_tally = {};
    raw_rate = co_await run_for(raw_one);
    ews_rate = co_await run_for(ews_one);
    sent = ews.requests_sent();
    http.close_idle();
  }());
  std::printf("GetUserAvailability, %d mailbox(es) per call, %d in flight, %d s each\n", mailboxes, concurrency,
              seconds);
  std::printf("%-44s %10.0f /s  (%zu ok, %zu failed)\n", "bare HTTP client, same envelope (ceiling)", raw_rate,
              raw_tally.ok, raw_tally.failed);
  std::printf("%-44s %10.0f /s  (%zu ok, %zu failed, %llu EWS requests)\n", "EWS client (get_user_availability)",
              ews_rate, ews_tally.ok, ews_tally.failed, static_cast<unsigned long long>(sent));
  std::printf("ratio EWS client / ceiling: %.2f\n", raw_rate > 0 ? ews_rate / raw_rate : 0.0);
  return ews_tally.failed == 0 && raw_tally.failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "parse";
  if (mode == "parse")
    return parse_bench(argc > 2 ? std::atoi(argv[2]) : 100, argc > 3 ? std::atoi(argv[3]) : 200,
                       argc > 4 ? argv[4] : nullptr);
  if (mode == "roundtrip" && argc > 2)
    return roundtrip_bench(argv[2], argc > 3 ? std::atoi(argv[3]) : 5, argc > 4 ? std::atoi(argv[4]) : 16,
                           argc > 5 ? std::atoi(argv[5]) : 1);
  std::fprintf(stderr, "usage: ews_bench parse [mailboxes] [events] [dump-file]\n"
                       "       ews_bench roundtrip URL [seconds] [concurrency] [mailboxes]\n");
  return 2;
}
