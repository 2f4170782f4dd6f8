// Package qdrant is the YouWorker Qdrant stand-in: an in-process gRPC server that implements
// the part of Qdrant's gRPC API (github.com/qdrant/go-client/qdrant, the generated
// CollectionsServer, PointsServer and QdrantServer interfaces) that YouWorker calls, with
// everything held in memory.
//
// It is a TEST DOUBLE, not Qdrant. Tests use it because no Qdrant binary can be obtained on
// the build machines. It has no index (every search is an exact brute-force scan), no
// persistence, no snapshots, no clustering, and it says what it is: HealthCheck answers the
// title "qdrant - vector search engine (YouWorker stand-in)" and [Listen] logs a WARN line.
// A method it does not implement answers codes.Unimplemented, and so does an implemented
// method given an option it does not implement, rather than silently ignoring it.
//
// # What it implements
//
// qdrant.Qdrant/HealthCheck answers the title, [Version] and a commit.
//
// qdrant.Collections: Create (one unnamed dense vector per point, Cosine distance only; an
// existing name answers codes.AlreadyExists "Wrong input: Collection `NAME` already
// exists!"), Get (status green, the vector parameters, the payload indexes with their point
// counts, the point count, the metadata), CollectionExists, List (sorted by name) and Delete
// (result false when there was no such collection). Any call on a missing collection answers
// codes.NotFound "Not found: Collection `NAME` doesn't exist!".
//
// qdrant.Points:
//
//   - Upsert: points are validated as a batch, then all written; an existing id is replaced.
//     Ids are unsigned integers or UUIDs (stored in canonical lower-case form; an unparsable
//     one answers InvalidArgument "Unable to parse UUID: ..."). A vector of the wrong length
//     answers InvalidArgument "Wrong input: Vector dimension error: expected dim: D, got N".
//     Vectors are normalised when stored, as Qdrant does for Cosine; a zero vector is kept as
//     is and scores 0. The payload is stored as given.
//   - Delete: by ids or by filter.
//   - Count: with an optional filter, always exact.
//   - CreateFieldIndex: recorded (shown by Get) and otherwise accepted; filters work on any
//     key, indexed or not, as in Qdrant without strict mode.
//   - Query: nearest to a dense vector, with filter,
//     limit (default 10), offset, score_threshold (scores below it are dropped),
//     with_payload (all, include or exclude top-level keys) and with_vectors (all or none).
//   - Search: the same engine through the older Search request.
//
// Scores are exact cosine similarities, computed in float64 between the normalised query and
// the normalised stored vectors, and results are sorted best first, ties by id. Write
// responses carry an increasing operation_id and status Completed when wait is true,
// Acknowledged otherwise (the write is applied before the response either way).
//
// # Filters
//
// must (all), should (at least one, when not empty), must_not (none), min_should, nested
// filters, has_id, is_empty, is_null and field conditions with match keyword, keywords (any),
// integer, integers (any) and boolean. A payload array matches when any element does. Other
// conditions (ranges, geo, full-text, except, nested keys "a.b", values_count, datetime)
// answer codes.Unimplemented when the filter is received, even on an empty collection.
//
// # Authentication
//
// With [Options].APIKey set, every call except HealthCheck must carry the key in the "api-key"
// metadata (or "authorization: Bearer KEY"), else it answers codes.PermissionDenied "Invalid
// api-key", as Qdrant does.
//
// [Server.Calls] counts the calls received per method ("Points/Upsert",
// "Collections/Create", ...), rejected ones included.
package qdrant
