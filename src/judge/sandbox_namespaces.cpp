// Which namespaces this process may create: probed once by cloning a child
// per namespace that exits at once. Containers differ (Docker's default
// seccomp profile refuses them, user namespaces may be disabled by sysctl),
// so nothing is assumed.
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "clrp/judge/sandbox.hpp"
#include "sandbox_child.hpp"

namespace clrp::judge {

namespace {

// 0 when a child cloned with `flags` could be created, else the errno.
int probe(unsigned long flags) {
  const long pid = detail::raw_clone(flags);
  if (pid < 0) return errno;
  if (pid == 0) _exit(0);
  int status = 0;
  while (waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
  }
  return 0;
}

Isolation probe_all() {
  Isolation iso;
  // As root no user namespace is needed (privileges are dropped with
  // setresuid instead, which also makes RLIMIT_NPROC count). Otherwise the
  // other namespaces need one.
  unsigned long base = 0;
  if (geteuid() != 0) {
    if (const int e = probe(CLONE_NEWUSER); e != 0) {
      iso.notes.push_back(std::string("user namespace: ") + std::strerror(e) +
                          " (no other namespace is possible without it when not root)");
      return iso;
    }
    iso.user_namespace = true;
    base = CLONE_NEWUSER;
  }
  struct Candidate {
    unsigned long flag;
    bool Isolation::*field;
    const char* name;
  };
  const Candidate candidates[] = {
      {CLONE_NEWNET, &Isolation::network_namespace, "network namespace"},
      {CLONE_NEWNS, &Isolation::mount_namespace, "mount namespace"},
      {CLONE_NEWPID, &Isolation::pid_namespace, "pid namespace"},
      {CLONE_NEWIPC, &Isolation::ipc_namespace, "ipc namespace"},
      {CLONE_NEWUTS, &Isolation::uts_namespace, "uts namespace"},
  };
  for (const Candidate& c : candidates) {
    if (const int e = probe(base | c.flag); e != 0) {
      iso.notes.push_back(std::string(c.name) + ": " + std::strerror(e));
    } else {
      iso.*c.field = true;
    }
  }
  return iso;
}

}  // namespace

const Isolation& available_namespaces() {
  static std::once_flag once;
  static Isolation iso;
  std::call_once(once, [] { iso = probe_all(); });
  return iso;
}

std::string Isolation::summary() const {
  std::string out;
  auto add = [&out](bool on, const char* name) {
    if (!on) return;
    if (!out.empty()) out += ',';
    out += name;
  };
  add(user_namespace, "user");
  add(network_namespace, "net");
  add(mount_namespace, "mnt");
  add(pid_namespace, "pid");
  add(ipc_namespace, "ipc");
  add(uts_namespace, "uts");
  add(private_proc, "proc");
  add(private_sys, "sys");
  add(read_only_root, "ro-root");
  add(private_tmpfs, "tmpfs");
  add(dropped_privileges, "uid");
  add(seccomp_no_sockets, "seccomp");
  return out.empty() ? "none" : out;
}

}  // namespace clrp::judge
