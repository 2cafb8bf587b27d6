// Argument parsing of every `nasc` subcommand, through the built binary: --help and a good argument list succeed,
// unknown options and bad values fail with a non-zero exit and a message naming what was wrong.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "common/json_io.h"
#include "latency/profile.h"
#include "search/search_options.h"

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int rc = -1;
  std::string output;  // stdout and stderr
};

Outcome run_nasc(const std::string& args) {
  const std::string cmd = "cd '" NASC_SOURCE_DIR "' && '" NASC_BINARY "' " + args + " 2>&1";
  Outcome o;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
  int status = pclose(p);
  o.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return o;
}

void expect_ok(const std::string& args, const std::string& contains) {
  Outcome o = run_nasc(args);
  EXPECT_EQ(o.rc, 0) << "nasc " << args << "\n" << o.output;
  EXPECT_NE(o.output.find(contains), std::string::npos) << "nasc " << args << " should print '" << contains << "'\n"
                                                        << o.output;
}

void expect_refused(const std::string& args, const std::string& names) {
  Outcome o = run_nasc(args);
  EXPECT_NE(o.rc, 0) << "nasc " << args << " should fail\n" << o.output;
  EXPECT_NE(o.output.find(names), std::string::npos) << "nasc " << args << ": the error should name '" << names
                                                     << "'\n" << o.output;
}

// Every subcommand: help lists the given options; an unknown option is refused by name (`required` supplies the
// required options, which CLI11 checks first).
void expect_help_and_unknown(const std::string& cmd, const std::vector<std::string>& options,
                             const std::string& required = "") {
  Outcome help = run_nasc(cmd + " --help");
  EXPECT_EQ(help.rc, 0) << help.output;
  for (auto& opt : options) EXPECT_NE(help.output.find(opt), std::string::npos) << cmd << " --help lacks " << opt;
  expect_refused(cmd + " " + required + " --no-such-option", "--no-such-option");
}

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("nasc_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

const std::vector<std::string> kScenario = {"--space",     "--device-profile", "--server-profile",    "--bandwidth",
                                            "--downlink",  "--delay",          "--encoding",          "--min-device-blocks",
                                            "--return-result"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST(Cli, TopLevel) {
  expect_ok("--help", "Subcommands:");
  expect_ok("--version", ".");
  expect_refused("", "subcommand");
  expect_refused("frobnicate", "unknown subcommand 'frobnicate'");
}

TEST(Cli, Space) {
  expect_help_and_unknown("space", {"--space", "--json"});
  expect_ok("space --space tiny", "space tiny");
  expect_ok("space --space fmnist --json", "\"blocks\"");
  expect_refused("space --space nope", "unknown space 'nope'");
}

TEST(Cli, Latency) {
  expect_help_and_unknown("latency", with(kScenario, {"--arch", "--split", "--oracle", "--json"}));
  // The scenario defaults of search and experiment: bundled CPU profiles, 10 Mbit/s, 5 ms, int8, floor 1.
  expect_ok("latency --split all", "10/10 Mbit/s up/down, delay 5 ms, int8 payload");
  expect_ok("latency --oracle --json", "\"oracle\"");
  expect_refused("latency --encoding int4", "--encoding");
  expect_refused("latency --bandwidth -1", "--bandwidth");
  expect_refused("latency --split 99", "--split '99'");
  expect_refused("latency --split 0", "below --min-device-blocks 1");
  expect_refused("latency --arch k3_e6", "expected 12 (one per layer");
  expect_refused("latency --oracle --split 3", "--oracle");
  expect_refused("latency --device-profile /nonexistent.json", "/nonexistent.json");

  // Over a trace of its own: 1 s at 20 Mbit/s, 1 s at 0.5, looping.
  const fs::path dir = scratch("trace");
  fs::create_directories(dir);
  const std::string good = (dir / "up.csv").string(), bad = (dir / "bad.up").string();
  std::FILE* f = std::fopen(good.c_str(), "w");
  std::fputs("seconds,mbps,delay_ms\n0,20,0\n1,0.5,10\n", f);
  std::fclose(f);
  f = std::fopen(bad.c_str(), "w");
  std::fputs("3\n7\n5\n", f);
  std::fclose(f);
  expect_help_and_unknown("latency", {"--link-trace", "--downlink-trace", "--max-latency", "--trace-step-ms"});
  expect_ok("latency --split all --link-trace " + good + " --max-latency 20",
            "up.csv (csv): 2.0 s, looping; Mbit/s per second p10 2.45, p50 10.25, p90 18.05, mean 10.25");
  expect_ok("latency --link-trace " + good, "best split of each request");
  expect_ok("latency --link-trace " + good + " --json", "\"adaptive\"");
  expect_ok("latency --link-trace " + good + " --json", "\"best_static_split\"");
  expect_refused("latency --link-trace " + bad, "bad.up line 3: '5'");
  expect_refused("latency --link-trace " + good + " --split 3", "expected all or best");
  expect_refused("latency --max-latency 5", "--link-trace");
  expect_refused("latency --link-trace " + good + " --oracle", "--oracle");
  fs::remove_all(dir);
}

TEST(Cli, Search) {
  expect_help_and_unknown("search", with(kScenario, {"--data", "--strategy", "--max-latency", "--latency-frac",
                                                      "--budget", "--epochs", "--out", "--resume", "--seed"}));
  const std::string out = " --out " + scratch("search").string();
  expect_refused("search --strategy magic" + out, "unknown strategy");
  expect_refused("search --strategy fixed:k9_e9" + out, "k9_e9");
  expect_refused("search --budget huge" + out, "--budget");
  expect_refused("search --ranking greedy" + out, "--ranking");
  expect_refused("search --weight-paths all" + out, "--weight-paths");
  expect_refused("search --tie-infeasible" + out, "--tie-infeasible");  // removed with results/table-variants
  expect_refused("search --max-latency 1 --latency-frac 0.3" + out, "not both");
  expect_refused("search --strategy nasc" + out, "--max-latency is required");
  expect_refused("search --max-latency 0.001" + out, "below the minimum achievable latency");
  expect_refused("search --latency-frac 0.3 --data nowhere:/x" + out, "nowhere");
  EXPECT_FALSE(fs::exists(scratch("search") / "search.json"));
}

// One declaration per search option: each is a flag of nasc search, its --help names it, docs/USAGE.md too.
TEST(Cli, SearchOffersEveryDeclaredOptionAndTheGuideNamesIt) {
  const Outcome help = run_nasc("search --help");
  std::ifstream in(NASC_SOURCE_DIR "/docs/USAGE.md");
  std::stringstream guide;
  guide << in.rdbuf();
  ASSERT_GT(guide.str().size(), 1000u);
  for (const nasc::SearchOption& o : nasc::search_options()) {
    EXPECT_NE(help.output.find("--" + o.flag), std::string::npos) << "search --help lacks --" << o.flag;
    EXPECT_NE(guide.str().find("--" + o.flag), std::string::npos) << "docs/USAGE.md lacks --" << o.flag;
  }
}

// --config reads a search object, or an experiment config's; the flags given override it.
TEST(Cli, SearchConfigSetsOptionsAndFlagsOverrideIt) {
  const fs::path dir = scratch("search_config");
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  const std::string experiment = write("experiment.json", R"({"name": "x", "search": {"momentum": 0.8, "lambda": 6,
      "epochs": 4, "fair_sampling": false}})");
  const std::string run = (dir / "run").string();
  expect_ok("search --strategy fixed:k3_e3 --latency-frac 1 --config " + experiment + " --lambda 4 --augment=false --out " +
                run,
            "results in");
  const nasc::json o = nasc::read_json_file(run + "/search.json").at("options");
  EXPECT_EQ(o["momentum"], 0.8);
  EXPECT_EQ(o["epochs"], 4);
  EXPECT_EQ(o["lambda"], 4) << "the flag over the config";
  EXPECT_EQ(o["augment"], false);
  EXPECT_EQ(o["fair_sampling"], false) << "theta paths, as the config said";
  EXPECT_EQ(o["eval_limit"], 2000) << "the quick budget's, which the config leaves";
  const std::string base = "search --strategy fixed:k3_e3 --latency-frac 1 --out " + (dir / "bad").string();
  expect_refused(base + " --config " + write("lambda.json", R"({"lambda": 1})"), "lambda = 1: expected 2..64");
  expect_refused(base + " --config " + write("epoch.json", R"({"epoch": 3})"), "unknown field 'epoch'");
  expect_refused(base + " --lambda 1", "--lambda = 1: expected 2..64");
  expect_refused(base + " --lr fast", "--lr 'fast': expected > 0");
  expect_refused(base + " --augment=maybe", "--augment");
  EXPECT_FALSE(fs::exists(dir / "bad" / "search.json"));
  fs::remove_all(dir);
}

// --link-trace prices each split's uplink at a quantile of the trace: the answer's priced total meets T, and
// search.json says what the answer does over the whole trace (a free answer: no data, no training).
TEST(Cli, SearchOverALinkTraceMeetsTheThresholdAtItsQuantile) {
  const fs::path dir = scratch("search_trace");
  fs::create_directories(dir);
  std::ofstream(dir / "up.csv") << "seconds,mbps\n0,40\n1,2\n";  // loops: 1 s at 40 Mbit/s, 1 s at 2
  const std::string base = "search --space nbmacro --device-profile profiles/raspi4-nbmacro.json --server-profile "
                           "profiles/titanrtx-nbmacro.json --strategy largest-feasible --latency-frac 0.5 --out " +
                           (dir / "run").string();
  expect_ok(base + " --link-trace " + (dir / "up.csv").string() + " --latency-quantile 0.9", "over trace");
  const nasc::json r = nasc::read_json_file((dir / "run" / "search.json").string());
  const nasc::json& t = r.at("link_trace");
  const double T = r["max_latency_ms"];
  EXPECT_EQ(t["quantile"], 0.9);
  EXPECT_LE(t["priced_total_ms"].get<double>(), T);
  EXPECT_DOUBLE_EQ(t["priced_total_ms"].get<double>(), r["latency"]["total_ms"].get<double>());
  EXPECT_LE(t["measured_quantile_ms"].get<double>(), T * 1.01) << "the requests' own 0.9-quantile";
  EXPECT_GE(t["static_split"]["share_within"].get<double>(), 0.89);
  EXPECT_LE(t["oracle_split"]["p95_ms"].get<double>(), t["static_split"]["p95_ms"].get<double>() + 1e-9);
  expect_refused(base + " --latency-quantile 0.9", "--latency-quantile needs --link-trace");
  expect_refused(base + " --link-trace " + (dir / "up.csv").string() + " --latency-quantile 2", "--latency-quantile");
  fs::remove_all(dir);
}

TEST(Cli, Train) {
  expect_help_and_unknown("train", {"--space", "--arch", "--data", "--from", "--epochs", "--lr", "--resume",
                                    "--payload-split", "--payload-encoding", "--float-payload"});
  const std::string out = " --out " + scratch("train").string();
  expect_refused("train --arch nope" + out, "expected 12 (one per layer");
  expect_refused("train --epochs 0" + out, "epochs");
  expect_refused("train --from /nonexistent/search.json" + out, "/nonexistent/search.json");
  expect_refused("train --device tpu" + out, "--device");
  expect_refused("train --threads -2" + out, "--threads");
  expect_refused("train --payload-split 99" + out, "payload split 99 of space fmnist: expected 0..14");
  expect_refused("train --payload-encoding int4" + out, "--payload-encoding");
  expect_refused("train --data folder:/nonexistent/photos" + out, "/nonexistent/photos: not a folder");
  expect_refused("train --data fmnist32" + out, "data fmnist32:/usr/share/datasets/fashion-mnist (3x32x32, 10 classes) does not fit space fmnist");
  EXPECT_FALSE(fs::exists(scratch("train"))) << "nothing written for a refused command";
}

TEST(Cli, Experiment) {
  expect_help_and_unknown("experiment", {"--config", "--out", "--report-only"}, "--out /tmp/x");
  expect_refused("experiment", "--out");
  expect_refused("experiment --config /nonexistent.json --out " + scratch("exp").string(), "/nonexistent.json");
  expect_refused("experiment --report-only --out " + scratch("exp2").string(), "neither experiment.json nor results.csv");
}

TEST(Cli, Export) {
  expect_help_and_unknown("export", {"--from", "--split", "--out", "--encoding", "--bandwidth"}, "--from /tmp/x");
  expect_refused("export", "--from");
  expect_refused("export --from /nonexistent-run", "/nonexistent-run");
  expect_refused("export --from /tmp --encoding int4", "--encoding");
}

TEST(Cli, ServeAndClient) {
  expect_help_and_unknown("serve", {"--model", "--listen", "--workers", "--max-connections", "--max-body", "--tls",
                                    "--tls-ca", "--tls-cert", "--tls-key", "--insecure"},
                          "--model /tmp/x");
  // Plaintext beyond loopback is refused before the model is even looked at.
  expect_refused("serve --model /nonexistent-export --listen 0.0.0.0:9000", "without TLS: give a certificate");
  expect_refused("client --model /nonexistent-export --server 192.0.2.7:9000", "or --insecure");
  expect_refused("serve --model /tmp --tls /tmp --insecure", "--tls excludes --insecure");
  expect_refused("serve --model /tmp --tls-ca /etc/hostname", "give --tls DIR, or all of --tls-ca, --tls-cert");
  expect_refused("client --model /tmp --tls-pin abc", "--tls-server-name and --tls-pin need TLS");
  expect_refused("serve", "--model");
  expect_refused("serve --model /nonexistent-export", "/nonexistent-export");
  expect_refused("serve --model /tmp --workers 0", "--workers");
  expect_help_and_unknown("client", {"--model", "--server", "--data", "--limit", "--emulate-device", "--timeout-ms",
                                     "--split", "--link-trace", "--max-latency", "--hysteresis", "--probe-every",
                                     "--tls", "--tls-server-name", "--tls-pin", "--insecure"},
                          "--model /tmp/x");
  expect_refused("client", "--model");
  expect_refused("client --model /nonexistent-export", "/nonexistent-export");
  expect_refused("client --model /tmp --timeout-ms 0", "--timeout-ms");
}

TEST(Cli, ProfileAndFitProfile) {
  expect_help_and_unknown("profile", {"--space", "--device", "--out", "--reps"}, "--out /tmp/x.json");
  expect_refused("profile", "--out");
  expect_refused("profile --space nope --out " + (scratch("prof") / "p.json").string(), "unknown space 'nope'");
  expect_refused("profile --reps 1 --out " + (scratch("prof") / "p.json").string(), "--reps");
  EXPECT_FALSE(fs::exists(scratch("prof") / "p.json"));
  const std::string fit_required = "--timings /x.csv --column c --reference /r.json --out /tmp/f.json";
  expect_help_and_unknown("fit-profile", {"--timings", "--column", "--space", "--reference", "--out"}, fit_required);
  expect_refused("fit-profile --timings /nonexistent.csv --column x --reference profiles/cpu1-hwnas-cifar.json "
                 "--space hwnas-cifar --out " + (scratch("fit") / "f.json").string(),
                 "/nonexistent.csv");

  const std::string refs = "--source-reference profiles/reference/cpu1-hwnas-cifar.json "
                           "--target-reference profiles/reference/cpu1-nbmacro.json ";
  const fs::path out = scratch("predict") / "p.json";
  expect_help_and_unknown("predict-profile",
                          {"--from", "--space", "--source-reference", "--target-reference", "--check", "--out"},
                          "--from /x.json --space nbmacro " + refs + "--out /tmp/p.json");
  expect_refused("predict-profile --from /nonexistent.json --space nbmacro " + refs + "--out " + out.string(),
                 "/nonexistent.json");
  // A check against a profile of another space is refused naming a key it lacks, and nothing is written.
  expect_refused("predict-profile --from profiles/raspi4-hwnas-cifar.json --space nbmacro " + refs +
                     "--check profiles/cpu1-hwnas-cifar.json --out " + out.string(),
                 "ConvNorm_H32_W32_Cin3_Cout32");
  EXPECT_FALSE(fs::exists(out));
  expect_ok("predict-profile --from profiles/raspi4-hwnas-cifar.json --space nbmacro " + refs + "--out " +
                out.string(),
            "12 predicted (3 outside the source's feature range)");
  EXPECT_EQ(nasc::HardwareProfile::load(out.string()).entries().size(), 22u);
}
