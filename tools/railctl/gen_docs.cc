// Writes railctl's man page (railctl(8), roff) or its bash completion from
// tools/railctl/commands.h, the table railctl's own help comes from, so the
// three never disagree. Run at build time by tools/meson.build:
//
//   railctl-gen-docs man VERSION > railctl.8
//   railctl-gen-docs bash > railctl (bash-completion)
#include <cctype>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>

#include "tools/railctl/commands.h"

namespace {

using namespace railyard::railctl;

// roff: a backslash is \e, a minus \-, and a line may not start with . or '.
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

void man(std::string_view version) {
  std::printf(".TH RAILCTL 8 \"\" \"railyard %s\" \"System Administration\"\n", std::string(version).c_str());
  std::printf(".SH NAME\nrailctl \\- control and inspect railyardd, the railyard rack daemon\n");
  std::printf(".SH SYNOPSIS\n.B railctl\n[\\fIoptions\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]\n");
  std::printf(
      ".SH DESCRIPTION\n%s\n",
      roff("railctl talks to railyardd over its control socket: the state of the fabric's rails and peers, the BMC's "
           "sensors, the policy and the decode workload, a bandwidth probe, throttling, draining, live migration and "
           "fault injection. Members of control.group may use every command; members of control.read_group only "
           "those that read (status, rails, peers, transfers, bmc, policy, workload, watch, version).")
          .c_str());
  std::printf(".SH COMMANDS\n");
  for (const auto& c : kCommands) {
    std::printf(".TP\n.B %s", roff(c.name).c_str());
    if (!c.synopsis.empty()) std::printf(" %s", roff(c.synopsis).c_str());
    std::printf("\n");
    std::string summary(c.summary);
    for (char& ch : summary)
      if (ch == '\n') ch = ' ';
    std::printf("%s\n", roff(summary).c_str());
  }
  std::printf(".SH OPTIONS\n");
  for (const auto& o : kGlobalOptions) {
    std::printf(".TP\n.B %s", roff(o.flags).c_str());
    if (!o.value.empty()) std::printf(" \\fI%s\\fR", roff(o.value).c_str());
    std::printf("\n%s\n", roff(o.summary).c_str());
  }
  std::printf(".SH EXIT STATUS\n%s\n", roff(kExitCodes).c_str());
  std::printf(".SH FILES\n.TP\n.I /run/railyard/control.sock\nthe control socket (control.socket)\n");
  std::printf(".TP\n.I /etc/railyard/railyard.toml\nthe configuration railyardd reads\n");
  std::printf(".SH SEE ALSO\n%s\n",
              roff("railyardd.service; /usr/share/doc/railyard/OPERATIONS.md, the operator's guide").c_str());
}

// Completes command names, then the options each command's synopsis names.
void bash() {
  std::string commands;
  for (const auto& c : kCommands) commands += std::string(commands.empty() ? "" : " ") + std::string(c.name);
  std::string globals;
  for (const auto& o : kGlobalOptions) {
    for (std::string_view f = o.flags; !f.empty();) {
      const size_t comma = f.find(", ");
      globals += " " + std::string(f.substr(0, comma));
      f = comma == std::string_view::npos ? std::string_view{} : f.substr(comma + 2);
    }
  }
  std::printf("# bash completion for railctl (generated from tools/railctl/commands.h)\n");
  std::printf("_railctl() {\n  local cur=${COMP_WORDS[COMP_CWORD]} cmd=\"\" i\n");
  std::printf("  for ((i = 1; i < COMP_CWORD; i++)); do\n");
  std::printf("    case ${COMP_WORDS[i]} in\n      --socket|--timeout) ((i++)) ;;\n      -*) ;;\n");
  std::printf("      *) cmd=${COMP_WORDS[i]}; break ;;\n    esac\n  done\n");
  std::printf("  local words=\"\"\n  case $cmd in\n");
  std::printf("    \"\") words=\"%s%s\" ;;\n", commands.c_str(), globals.c_str());
  for (const auto& c : kCommands) {
    std::set<std::string> flags;
    for (size_t at = c.synopsis.find("--"); at != std::string_view::npos; at = c.synopsis.find("--", at + 2)) {
      size_t end = at + 2;
      while (end < c.synopsis.size() && (std::isalnum(static_cast<unsigned char>(c.synopsis[end])) ||
                                         c.synopsis[end] == '-'))
        ++end;
      flags.insert(std::string(c.synopsis.substr(at, end - at)));
    }
    std::string words;
    for (const auto& f : flags) words += (words.empty() ? "" : " ") + f;
    if (c.name == "help") words = commands;
    if (c.name == "config") words = "check";
    if (!words.empty()) std::printf("    %s) words=\"%s\" ;;\n", std::string(c.name).c_str(), words.c_str());
  }
  std::printf("  esac\n  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n}\ncomplete -F _railctl railctl\n");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view what = argc > 1 ? argv[1] : "";
  if (what == "man" && argc == 3) {
    man(argv[2]);
  } else if (what == "bash" && argc == 2) {
    bash();
  } else {
    std::fprintf(stderr, "usage: railctl-gen-docs man VERSION | bash\n");
    return 2;
  }
  return 0;
}
