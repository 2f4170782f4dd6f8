// Package vectors is YouWorker's vector store: chunk embeddings, searched by cosine similarity
// within what a tenant may read. [Store] is the one interface; [SQLite] (embedded, the default
// when QDRANT_URL is unset) and [Qdrant] implement it and pass the same contract tests
// (contract_test.go; the Qdrant half runs against the in-process stand-in of
// standin/qdrant).
//
// # Tenancy
//
// A point belongs to an owner and, optionally, a group. A [Tenant] (a user and their groups)
// reads the points it owns, whatever their group, and every point of its groups. A Tenant
// cannot be built without a user, and Search rejects the zero Tenant, so a search without the
// tenant filter cannot be written. Query.GroupID narrows to one group and must be one of the
// tenant's groups (otherwise no hits); Query.DocumentIDs narrows to those documents.
//
// # Collections
//
// Each embedding model and dimension has its own collection, named by [Collection.Name]
// ("yw_nomic-embed-text_768"), created on the first Upsert. Reading a collection that does not
// exist yet finds nothing; it does not create it. Vectors are checked (dimension, finite,
// not zero) and scaled to unit length before they are stored; scores are cosine similarities
// in [-1, 1], best first, ties by point id.
//
// # SQLite (sqlite-vec)
//
// One SQLite file (DATA_DIR/vectors.db) in WAL mode, opened through mattn/go-sqlite3 with
// sqlite-vec v0.1.6 compiled in (github.com/asg017/sqlite-vec-go-bindings/cgo). Writes go
// through a single connection (BEGIN IMMEDIATE, busy timeout 10 s, so several processes may
// share the file); searches use a pool of read-only connections, each search in one read
// transaction. A collection NAME is three tables:
//
//	CREATE TABLE "NAME_points" (            -- who may read each point; id = the vec0 rowid
//	  id          INTEGER PRIMARY KEY AUTOINCREMENT,
//	  point_id    TEXT NOT NULL UNIQUE,       -- Point.ID
//	  owner_id    TEXT NOT NULL,
//	  group_id    TEXT,                       -- NULL for a personal point
//	  document_id TEXT NOT NULL,              -- indexed, as is owner_id
//	  chunk_index INTEGER NOT NULL);
//	CREATE VIRTUAL TABLE "NAME_vec" USING vec0(
//	  owner_id TEXT PARTITION KEY,
//	  group_id TEXT PARTITION KEY,            -- '' for a personal point
//	  embedding float[DIM] distance_metric=cosine,
//	  document_id TEXT,                       -- metadata column, for Query.DocumentIDs
//	  chunk_size=64);
//	-- plus indexes on the vec0 shadow table "NAME_vec_chunks" (partition00, partition01)
//	-- and (partition01): vec0 looks a partition's chunks up with a full scan otherwise.
//
// and the registry table yw_collections (name, model, dim, created_at) lists the collections.
//
// Upsert runs in one transaction: each point whose id exists is deleted (from both tables) and
// inserted again, since a vec0 row cannot change partition. Search runs one KNN per partition
// the tenant may read,
//
//	SELECT rowid, distance FROM "NAME_vec"
//	WHERE embedding MATCH ? AND k = ? AND owner_id = ? [AND document_id IN (...)]
//
// then the same with group_id = ? for each of the tenant's groups (or only group_id =
// Query.GroupID), merges the results by distance, drops duplicates (a tenant's own point in one
// of its groups comes back twice), keeps the best TopK and reads their ids from NAME_points.
// distance is the cosine distance 1 - cos, so the score is 1 - distance. Each KNN is exact
// (brute force) over the partition's vectors only. DeleteDocument and DeleteOwner find the
// rows through NAME_points and delete them one by one from vec0 (a point lookup by rowid);
// DeleteOwner covers every registered collection in one transaction.
//
// sqlite-vec v0.1.6 notes:
//   - A DELETE only clears the slot's validity bit; the vector bytes stay in the chunk blob
//     (sqlite-vec issues #54 and #178) and the slot is reused only while its chunk is the
//     partition's latest. The file does not shrink after deletions, and VACUUM does not help.
//   - INSERT OR REPLACE on vec0 is unreliable (issue #259); hence delete + insert.
//   - KNN needs `k = ?` (LIMIT is only pushed down on SQLite ≥ 3.41 and not through joins) and
//     k is capped at 4096. There is no IN on partition keys, hence one KNN per partition.
//   - Metadata TEXT values longer than 12 bytes (every UUID) are kept in a side table and
//     compared there. A DocumentIDs filter is evaluated inside the KNN, so it does not starve
//     the top k, but costs as much as searching the whole partition.
//   - The cgo package compiles sqlite-vec against the system's sqlite3.h (/usr/include,
//     3.40 here) while the code runs on mattn's bundled SQLite (3.54): it needs libsqlite3-dev
//     at build time, and `IN (...)` on metadata needs that header to be 3.38 or newer.
//   - [sqlite_vec.Auto] registers the extension for every SQLite connection the process opens
//     afterwards, not just this store's.
//
// # Qdrant
//
// Through the official gRPC client. A collection is created on first use with the vector size
// and Cosine distance, metadata {"model", "created_by"}, and keyword payload indexes on
// owner_id, group_id and document_id; a creation race with another process (AlreadyExists, or
// the InvalidArgument older servers answer) is tolerated. Each point's payload is owner_id,
// group_id (absent for a personal point), document_id and chunk_index (an integer). Search is
// one Query request, nearest to the vector, with the filter
//
//	must: [ should: [ owner_id = user, group_id ∈ groups ],
//	        group_id = Query.GroupID,         -- if set
//	        document_id ∈ Query.DocumentIDs ] -- if set
//
// and with_payload [document_id, chunk_index]. Deletes are by filter with wait=true;
// DeleteOwner lists the collections and deletes from each "yw_" one. Upserts go in batches of
// 256 points with wait=true, not atomically: a retry with the same ids overwrites what a
// failed call left. A collection deleted behind the store's back is created again by the
// next Upsert; the others treat it as empty.
//
// go-client notes: [qdrant.NewClient] runs a version check (a HealthCheck with its own
// one-minute timeout, warnings to slog.Default) unless SkipCompatibilityCheck is set, which
// OpenQdrant does, checking reachability and the API key with ListCollections and the caller's
// context instead; the client logs a WARN through slog.Default for every pooled connection when
// an API key is used without TLS; it dials lazily, so a wrong address shows up on the first
// call; Qdrant lets HealthCheck through without an API key, so Ping does not catch a wrong key.
package vectors
