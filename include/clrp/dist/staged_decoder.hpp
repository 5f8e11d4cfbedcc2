// Incremental decoding through the stages of a pipeline group: a model that
// needs several ranks to fit also generates (benchmark answers, the
// counterfactual search) on the ranks that hold its layers.
//
// The leader (stage 0) runs the evaluator on a StagedDecoder, an
// IncrementalModel. Each forward_cached / forward_step embeds the tokens and
// runs the leader's layers over its share of the caches, then sends a
// DecodeRequest (what to run, and what happened to each cache) and the hidden
// states to stage 1. Every stage runs its layers over its own share of the
// same caches and passes the states on; the last one unembeds and sends the
// logits back to the leader. The other stages serve requests
// (DecodingServer::serve) from the leader's first request of a session
// until it closes the session.
//
// The caches: a KvCache on the leader holds the keys and values of the
// leader's layers; each other stage holds its layers' part of the same rooms
// (KvCache::Room), which it names by the leader's room ids. A request says
// per cache where its cached tokens lie (room, length, rows repeated) and
// which room the new tokens go to (the same room, or a new one of a given
// capacity and batch): what the leader's reserve() decided. So every stage
// does to its part exactly what the leader's cache did, forks and copies on
// write included. Rooms the leader no longer holds are released with its
// next request. The logits equal those of one DecoderModel holding every
// layer, bit for bit: the same operations on the same numbers.
//
// One thread at a time uses a StagedDecoder (the evaluator's); the group's
// other orders (group.hpp) come only after close().
#pragma once

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "clrp/dist/transport.hpp"
#include "clrp/model/decoder.hpp"
#include "clrp/model/incremental.hpp"

namespace clrp::dist {

/// One cache of a request: its tokens before the request and where the
/// request's tokens go.
struct RoomUse {
  std::uint64_t source = 0;              ///< room holding the cached tokens (0: none, length 0)
  std::int64_t length = 0;               ///< tokens cached before the request
  std::int64_t rows = 1;                 ///< rows of the request (a batch-1 room is repeated)
  std::uint64_t target = 0;              ///< room the new tokens are written to (source: in place)
  std::int64_t capacity = 0, batch = 0;  ///< of a new target room

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& source& length& rows& target& capacity& batch;
  }
};

/// What the leader asks of its stages.
struct DecodeRequest {
  enum Kind : int { cached = 0, step = 1, close = 2 };
  int kind = cached;
  bool last_only = false;               ///< cached: only the last token's logits
  std::vector<RoomUse> caches;          ///< cached: one; step: one per row
  std::vector<std::uint64_t> released;  ///< rooms the leader no longer holds

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& kind& last_only& caches& released;
  }
};

class StagedDecoder final : public model::IncrementalModel {
 public:
  /// `first`: the leader's layers (from layer 0), `stages`: the group's
  /// communicator (rank = stage). `open` is called before the first request
  /// of a session: it orders the other stages to serve (group.hpp).
  StagedDecoder(const model::DecoderModel& first, Transport& transport, MPI_Comm stages,
                std::function<void()> open);
  StagedDecoder(const StagedDecoder&) = delete;
  StagedDecoder& operator=(const StagedDecoder&) = delete;

  const model::ModelConfig& config() const override { return first_.config(); }
  at::Tensor forward_cached(const at::Tensor& ids, model::KvCache& cache,
                            bool last_only = false) const override;
  at::Tensor forward_step(const std::vector<std::int32_t>& ids,
                          const std::vector<model::KvCache*>& caches) const override;

  /// Ends the session: the other stages return from serve(). Nothing when
  /// no session is open.
  void close();

 private:
  /// Sends `request` and `hidden` up the pipeline; the last stage's logits.
  at::Tensor request(DecodeRequest& request, const at::Tensor& hidden) const;
  /// The rooms that died here since the last request (forgotten here too).
  std::vector<std::uint64_t> released() const;
  /// Records where the new tokens of `cache` went (after the leader's reserve).
  RoomUse use_after(RoomUse before, const model::KvCache& cache) const;

  const model::DecoderModel& first_;
  Transport& transport_;
  MPI_Comm stages_;
  int size_ = 1;
  std::function<void()> open_;
  mutable bool session_ = false;
  /// The rooms the other stages hold a part of, to release when they die here.
  mutable std::map<std::uint64_t, std::weak_ptr<model::KvCache::Room>> rooms_;
};

/// A later stage's side: its layers' part of the leader's rooms.
class DecodingServer {
 public:
  DecodingServer(const model::DecoderModel& stage, Transport& transport, MPI_Comm stages);
  /// Serves the leader's requests until it closes the session.
  void serve();
  /// Drops every room (the leader's decoding is over for this model).
  void clear() { rooms_.clear(); }
  /// Rooms held (for tests and logs).
  std::size_t rooms() const { return rooms_.size(); }

 private:
  /// This stage's part of the request's caches (new target rooms made).
  std::vector<model::KvCache> caches_of(const DecodeRequest& r);

  const model::DecoderModel& stage_;
  Transport& transport_;
  MPI_Comm stages_;
  int rank_ = 0, size_ = 1;
  std::map<std::uint64_t, std::shared_ptr<model::KvCache::Room>> rooms_;
};

}  // namespace clrp::dist
