#include "report/plots.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <sys/wait.h>

#include "common/error.h"
#include "common/json_io.h"

namespace nasc {

namespace fs = std::filesystem;

namespace {

std::string file_safe(const std::string& s) {
  std::string o;
  for (char c : s) o += (std::isalnum((unsigned char)c) || c == '-' || c == '.') ? c : '_';
  return o;
}

// A gnuplot single-quoted string: quotes are doubled, nothing else is special.
std::string gq(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("''") : std::string(1, c);
  return o + "'";
}

std::string shell_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

std::string g(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Runs a shell command and returns its output and exit status (127: command not found).
std::pair<std::string, int> capture(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) fail("cannot run '", cmd, "'");
  std::string out;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  return {out, WIFEXITED(st) ? WEXITSTATUS(st) : -1};
}

const char* kPalette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442"};
const char* kBreakdownColours[] = {"#4477aa", "#ee6677", "#228833"};

struct Group {
  std::string scenario;
  int floor;
  double bw;
  std::vector<const CellSummary*> cells;
};

std::string group_label(const Group& gr) {
  return cat(gr.scenario, ", privacy floor ", gr.floor, ", ", g(gr.bw), " Mbit/s");
}

// One figure's body; emitted once per terminal.
std::string accuracy_latency_figure(const Group& gr, const std::string& data, const std::vector<std::string>& order,
                                    std::map<std::string, int>& blocks) {
  std::ostringstream dat, gp;
  std::vector<std::pair<double, double>> all;
  int block = 0;
  double lo = 1e300, hi = 0;
  for (auto& s : order) {
    std::ostringstream b;
    int points = 0;
    for (auto* c : gr.cells) {
      const StrategySummary* ss = c->find(s);
      if (!ss) continue;
      b << g(ss->total_ms) << " " << g(100 * ss->acc_mean) << " " << g(100 * ss->acc_std) << " "
        << (c->constrained() ? g(c->threshold_level) : "?") << "\n";
      all.push_back({ss->total_ms, 100 * ss->acc_mean});
      lo = std::min(lo, ss->total_ms);
      hi = std::max(hi, ss->total_ms);
      ++points;
      if (s == "accuracy-only") break;  // the same unconstrained run in every threshold cell
    }
    if (!points) continue;
    dat << "# " << s << "\n" << b.str() << "\n\n";
    blocks[s] = block++;
  }
  dat << "# Pareto front\n";
  for (auto& p : pareto_front(all)) dat << g(p.first) << " " << g(p.second) << "\n";
  write_text_atomic(data, dat.str());

  gp << "reset\n"
     << "set title " << gq("Test accuracy vs end-to-end latency: " + group_label(gr)) << "\n"
     << "set xlabel 'End-to-end latency, model estimate (ms)'\nset ylabel 'Test accuracy after retraining (%)'\n"
     << "set key outside right top\nset grid\n";
  if (hi > 20 * lo && lo > 0) gp << "set logscale x\n";
  for (auto* c : gr.cells)
    if (c->threshold_ms == c->threshold_ms)
      gp << "set arrow from " << g(c->threshold_ms) << ", graph 0 to " << g(c->threshold_ms)
         << ", graph 1 nohead dashtype 3 lc rgb '#999999'\n";
  gp << "plot ";
  std::string rel = "data/" + fs::path(data).filename().string();
  int i = 0;
  for (auto& s : order) {
    if (!blocks.count(s)) continue;
    gp << gq(rel) << " index " << blocks[s] << " using 1:2:3 with yerrorbars pt " << (5 + i % 8)
       << " ps 1.3 lc rgb '" << kPalette[i % 8] << "' title " << gq(s) << ", \\\n     ";
    ++i;
  }
  gp << gq(rel) << " index " << block << " using 1:2 with lines dashtype 2 lw 1.5 lc rgb '#444444' title "
     << gq("Pareto front") << "\n";
  return gp.str();
}

std::string breakdown_figure(const Group& gr, const std::string& data) {
  std::ostringstream dat, gp;
  for (auto* c : gr.cells) {
    dat << "# " << c->level_name() << " = " << g(c->threshold_level) << "\n";
    for (auto& s : c->strategies)
      dat << "\"" << s.strategy << "\" " << g(s.device_ms) << " " << g(s.comm_ms) << " " << g(s.server_ms) << "\n";
    dat << "\n\n";
  }
  write_text_atomic(data, dat.str());
  std::string rel = "data/" + fs::path(data).filename().string();
  gp << "reset\n"
     << "set title " << gq("Latency breakdown per strategy (means over seeds): " + group_label(gr)) << "\n"
     << "set ylabel 'Latency, model estimate (ms)'\n"
     << "set style data histograms\nset style histogram rowstacked title offset 0,-2\n"
     << "set style fill solid 0.85 border -1\nset boxwidth 0.8\nset bmargin 9\n"
     << "set xtics rotate by -40 nomirror\nset key outside right top\nset grid ytics\n"
     << "plot ";
  const char* parts[] = {"device", "transfer (up + down)", "server"};
  for (size_t k = 0; k < gr.cells.size(); ++k) {
    const CellSummary* c = gr.cells[k];
    std::string label = c->threshold_ms == c->threshold_ms
                            ? cat(c->level_name(), " = ", g(c->threshold_level), ", T = ", g(c->threshold_ms), " ms")
                            : std::string("unconstrained");
    gp << (k ? ", \\\n     " : "") << "newhistogram " << gq(label);
    for (int p = 0; p < 3; ++p)
      gp << ", " << gq(rel) << " index " << k << " using " << (p + 2) << (p == 0 ? ":xtic(1)" : "")
         << " lc rgb '" << kBreakdownColours[p] << "' " << (k == 0 ? "title " + gq(parts[p]) : "notitle");
  }
  gp << "\n";
  return gp.str();
}

}  // namespace

// One plot after another, each a few lines of the same shape (data series, axes, file).
PlotFiles write_plots(const std::vector<ResultRow>& rows, const std::string& dir) {
  auto [terms, status] = capture("gnuplot -e 'set terminal' 2>&1");
  if (status == 127)
    fail("gnuplot not found: install it (apt-get install gnuplot) to draw the plots; results.csv and results.md are "
         "written");
  const std::string png = terms.find("pngcairo") != std::string::npos ? "pngcairo" : "png";

  std::vector<CellSummary> cells = summarize(rows);
  std::vector<std::string> order;
  for (auto& r : rows)
    if (std::find(order.begin(), order.end(), r.strategy) == order.end()) order.push_back(r.strategy);
  std::vector<Group> groups;
  for (auto& c : cells) {
    if (groups.empty() || groups.back().scenario != c.scenario || groups.back().floor != c.privacy_floor ||
        groups.back().bw != c.bandwidth_mbps)
      groups.push_back({c.scenario, c.privacy_floor, c.bandwidth_mbps, {}});
    groups.back().cells.push_back(&c);
  }

  // Built beside the target and swapped in whole, so that a failed run leaves the previous plots intact.
  fs::path final_dir(dir), tmp = fs::path(dir + ".tmp");
  fs::remove_all(tmp);
  fs::create_directories(tmp / "data");
  PlotFiles out;
  std::ostringstream script;
  script << "# Figures of this experiment, generated by nasc experiment from results.csv.\n"
         << "# Rerun by hand: cd " << final_dir.filename().string() << " && gnuplot plots.gp\n"
         << "set encoding utf8\nset datafile missing '?'\n\n";
  std::vector<std::string> images;
  for (auto& gr : groups) {
    std::string base = file_safe(cat(gr.scenario, "_floor", gr.floor, "_bw", g(gr.bw)));
    std::map<std::string, int> blocks;
    std::vector<std::pair<std::string, std::string>> figures = {
        {base + "_accuracy_latency",
         accuracy_latency_figure(gr, (tmp / "data" / (base + "_points.dat")).string(), order, blocks)},
        {base + "_breakdown", breakdown_figure(gr, (tmp / "data" / (base + "_bars.dat")).string())}};
    for (auto& [name, body] : figures) {
      script << "set terminal " << png << " size 1000,640 noenhanced font 'Sans,11'\n"
             << "set output " << gq(name + ".png") << "\n" << body << "\n"
             << "set terminal svg size 1000,640 dynamic noenhanced font 'Sans,11'\n"
             << "set output " << gq(name + ".svg") << "\n" << body << "\nunset output\n\n";
      images.push_back(name + ".png");
      images.push_back(name + ".svg");
    }
  }
  write_text_atomic((tmp / "plots.gp").string(), script.str());
  auto [log, rc] = capture("cd " + shell_quote(tmp.string()) + " && gnuplot plots.gp 2>&1");
  write_text_atomic((tmp / "gnuplot.log").string(), log);
  if (rc != 0) {
    std::string first = log.substr(0, log.find('\n', log.find_first_not_of(" \n")));
    fail("gnuplot failed on ", (tmp / "plots.gp").string(), " (exit ", rc, "): ", first, "; see ",
         (tmp / "gnuplot.log").string());
  }
  for (auto& im : images)
    if (!fs::exists(tmp / im) || fs::file_size(tmp / im) == 0)
      fail("gnuplot wrote no ", im, " in ", tmp.string(), "; see ", (tmp / "gnuplot.log").string());
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  out.script = (final_dir / "plots.gp").string();
  for (auto& im : images) out.images.push_back((final_dir / im).string());
  return out;
}

}  // namespace nasc
