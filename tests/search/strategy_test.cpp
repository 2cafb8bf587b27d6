#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "search/strategy.h"

using namespace nasc;

namespace {

std::string parse_error(const std::string& text, const Space& space) {
  try {
    Strategy::parse(text, space);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an Error for strategy '" << text << "'";
  return "";
}

}  // namespace

// What the registry declares of each strategy is what the search, nasc search and the experiment runner rely on
// instead of asking which strategy it is.
TEST(Strategy, RegistryDeclaresEachStrategysTrainingConstraintAndSharing) {
  const Space space(SpaceConfig::preset("tiny"));
  struct Expect {
    std::string text, name;
    bool trains, constrained;
    std::string shared;  // at privacy floor 2
  };
  for (const Expect& e : {Expect{"nasc", "nasc", true, true, ""},
                          Expect{"accuracy-only", "accuracy-only", true, false, "accuracy-only"},
                          Expect{"fixed:k3_e6", "fixed:k3_e6", false, true, ""},
                          Expect{"device-only", "device-only", true, true, ""},
                          Expect{"server-only", "server-only", true, true, ""},
                          Expect{"random", "random:100", true, true, "random/floor2"},
                          Expect{"random:8", "random:8", true, true, "random/floor2"},
                          Expect{"largest-feasible", "largest-feasible", false, true, ""},
                          Expect{"max-flops-feasible", "max-flops-feasible", false, true, ""}}) {
    const Strategy s = Strategy::parse(e.text, space);
    EXPECT_EQ(s.name(), e.name) << e.text;
    EXPECT_EQ(Strategy::parse(s.name(), space).name(), s.name()) << "a name reads back as itself";
    EXPECT_EQ(s.trains(), e.trains) << e.text;
    EXPECT_EQ(s.constrained(), e.constrained) << e.text;
    EXPECT_EQ(s.shared_supernet(2), e.shared) << e.text;
  }
  EXPECT_EQ(Strategy().name(), "nasc");

  // random:N shares one supernet across thresholds, trained by one unconstrained sample.
  SearchRequest req;
  req.strategy = Strategy::parse("random:8", space);
  req.max_latency_ms = 3;
  const SearchRequest shared = shared_supernet_request(req);
  EXPECT_EQ(shared.strategy.name(), "random:1");
  EXPECT_TRUE(std::isinf(shared.max_latency_ms));
  req.strategy = Strategy::parse("accuracy-only", space);
  EXPECT_EQ(shared_supernet_request(req).strategy.name(), "accuracy-only");

  const std::string forms = Strategy::accepted_forms();
  EXPECT_EQ(forms,
            "nasc, accuracy-only, fixed:OP (e.g. fixed:k3_e6), device-only, server-only, random:N, largest-feasible "
            "or max-flops-feasible");
  for (const auto& [text, why] : {std::pair<std::string, std::string>{"greedy", "unknown strategy"},
                                  {"random:x", "N is not a whole number"},
                                  {"random:0", "N must be 1..100000"},
                                  {"fixed:k9_e9", "op 'k9_e9' is not an op of space tiny"},
                                  {"nasc:2", "nasc takes no argument"}}) {
    const std::string e = parse_error(text, space);
    EXPECT_NE(e.find("strategy '" + text + "': " + why + "; expected " + forms), std::string::npos) << e;
  }
}
