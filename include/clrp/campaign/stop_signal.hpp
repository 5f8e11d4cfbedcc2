// SIGTERM and SIGINT as a request to stop a campaign cleanly.
//
// A batch scheduler sends SIGTERM before it preempts or times out a job. The
// handler only sets a flag: every rank finishes the batch it is explaining,
// the coordinator tells every group to commit and finish, and the run exits
// with kExitRequeue (runner.hpp) when work is left, so that the job can be
// requeued and run again with --resume.
#pragma once

namespace clrp::campaign {

/// Installs the handlers and clears the flag. Called first thing in a run: a
/// SIGTERM while the spec, the plan and the store are being read (a
/// preempted job's rerun can be signalled at once) stops the run before its
/// first batch, still with status 75.
void catch_stop_signals();

/// Whether SIGTERM or SIGINT arrived since catch_stop_signals().
bool stop_requested();

}  // namespace clrp::campaign
