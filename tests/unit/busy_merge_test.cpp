// Turning events into busy intervals: overlaps, statuses, clipping, and the
// status-free join the Google format needs, and the renderings a busy list keeps.
#include <catch2/catch.hpp>

#include <memory>
#include <random>

#include "svc/busy_merge.hpp"
#include "svc/lookup.hpp"

using namespace calgate;
using svc::busy_interval;
using svc::busy_type;

namespace {

std::chrono::sys_seconds t(int minutes) { return std::chrono::sys_seconds(std::chrono::minutes(minutes)); }

proto::ews::calendar_event ev(int from, int to, busy_type b) {
  proto::ews::calendar_event e;
  e.start = t(from);
  e.end = t(to);
  e.busy = b;
  return e;
}

}  // namespace

TEST_CASE("busy merge: overlaps take the stronger status, free time is not busy", "[lookup][merge]") {
  std::vector<proto::ews::calendar_event> events{
      ev(60, 120, busy_type::tentative), ev(90, 150, busy_type::busy), ev(100, 110, busy_type::oof),
      ev(200, 210, busy_type::free),     ev(220, 230, busy_type::working_elsewhere), ev(240, 250, busy_type::no_data),
      ev(300, 330, busy_type::busy),     ev(330, 360, busy_type::busy),  // touching, same status: joined
      ev(400, 410, busy_type::busy),     ev(410, 420, busy_type::tentative),  // touching, other status: kept apart
  };
  const std::vector<busy_interval> want{
      {t(60), t(90), busy_type::tentative}, {t(90), t(100), busy_type::busy}, {t(100), t(110), busy_type::oof},
      {t(110), t(150), busy_type::busy},    {t(300), t(360), busy_type::busy}, {t(400), t(410), busy_type::busy},
      {t(410), t(420), busy_type::tentative},
  };
  CHECK(svc::merge_busy(events, t(0), t(1000)) == want);
  // Unsorted input gives the same answer.
  std::reverse(events.begin(), events.end());
  CHECK(svc::merge_busy(events, t(0), t(1000)) == want);

  const std::vector<busy_interval> joined{{t(60), t(150), busy_type::oof}, {t(300), t(360), busy_type::busy},
                                          {t(400), t(420), busy_type::busy}};
  CHECK(svc::join_busy(want) == joined);
}

TEST_CASE("busy merge: clipped to the window; empty and inverted events are dropped", "[lookup][merge]") {
  std::vector<proto::ews::calendar_event> events{ev(0, 100, busy_type::busy), ev(150, 140, busy_type::busy),
                                                 ev(160, 160, busy_type::busy), ev(190, 400, busy_type::tentative),
                                                 ev(500, 600, busy_type::busy)};
  const std::vector<busy_interval> want{{t(50), t(100), busy_type::busy}, {t(190), t(300), busy_type::tentative}};
  CHECK(svc::merge_busy(events, t(50), t(300)) == want);
  CHECK(svc::merge_busy({}, t(0), t(10)).empty());
  CHECK(svc::merge_busy(events, t(300), t(300)).empty());
}

TEST_CASE("busy merge: random events give sorted, non-overlapping intervals covering exactly the busy minutes",
          "[lookup][merge]") {
  std::mt19937 rng(42);
  const busy_type kinds[] = {busy_type::free, busy_type::tentative, busy_type::busy, busy_type::oof,
                             busy_type::working_elsewhere, busy_type::no_data};
  for (int round = 0; round < 300; ++round) {
    std::vector<proto::ews::calendar_event> events;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      int a = static_cast<int>(rng() % 200), len = static_cast<int>(rng() % 60);
      events.push_back(ev(a, a + len, kinds[rng() % 6]));
    }
    const int from = static_cast<int>(rng() % 50), to = 150 + static_cast<int>(rng() % 100);
    auto merged = svc::merge_busy(events, t(from), t(to));
    // The strongest status per minute, computed the slow way.
    auto rank = [](busy_type b) { return b == busy_type::oof ? 3 : b == busy_type::busy ? 2 : b == busy_type::tentative ? 1 : 0; };
    for (int m = 0; m < 300; ++m) {
      int best = 0;
      if (m >= from && m < to)
        for (const auto& e : events)
          if (e.start <= t(m) && t(m) < e.end) best = std::max(best, rank(e.busy));
      int got = 0;
      for (const auto& b : merged)
        if (b.start <= t(m) && t(m) < b.end) got = rank(b.status);
      INFO("round " << round << " minute " << m);
      REQUIRE(got == best);
    }
    for (std::size_t i = 0; i < merged.size(); ++i) {
      REQUIRE(merged[i].start < merged[i].end);
      if (i > 0) {
        REQUIRE(merged[i - 1].end <= merged[i].start);
        // Touching neighbours differ in status (else they would have been joined).
        if (merged[i - 1].end == merged[i].start) REQUIRE(merged[i - 1].status != merged[i].status);
      }
    }
  }
}

TEST_CASE("busy list: renderings are kept per key, at most max_rendered, shared by copies", "[busy]") {
  using calgate::svc::busy_list;
  busy_list none;
  none.keep_rendered("k", "text");
  CHECK(none.rendered("k") == nullptr);  // a default list shares nothing to keep it in

  auto shared = std::make_shared<busy_list::shared>();
  const busy_list a(shared), b(shared);
  CHECK(a.rendered("zone-1") == nullptr);
  a.keep_rendered("zone-1", "one");
  REQUIRE(b.rendered("zone-1") != nullptr);  // the copy sees it: it lives with the intervals
  CHECK(*b.rendered("zone-1") == "one");
  b.keep_rendered("zone-1", "other");  // a kept rendering is not replaced
  CHECK(*a.rendered("zone-1") == "one");
  a.keep_rendered("zone-2", "two");
  a.keep_rendered("zone-3", "three");  // the oldest goes
  CHECK(a.rendered("zone-1") == nullptr);
  CHECK(*a.rendered("zone-2") == "two");
  CHECK(*a.rendered("zone-3") == "three");
  CHECK(shared->rendered.size() == busy_list::max_rendered);
  CHECK(a.rendered("zone-") == nullptr);  // whole keys only
  a.keep_rendered("", "unnamed");  // an empty key names nothing
  CHECK(a.rendered("") == nullptr);
  CHECK(*a.rendered("zone-3") == "three");
}
