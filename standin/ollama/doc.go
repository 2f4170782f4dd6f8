// Package ollama is the YouWorker Ollama stand-in: an HTTP server that speaks
// Ollama's wire protocol (the JSON and NDJSON formats of
// github.com/ollama/ollama/api) with scripted, deterministic behaviour.
//
// It is a TEST DOUBLE, not a language model. Tests, benchmarks and the offline
// `make dev` use it because no model weights can be downloaded. It says so:
// GET /api/version answers {"version":"0.0.0-youworker-standin"}, GET /
// answers "Ollama is running" plus a note that this is the stand-in, every
// response carries the header X-Ollama-Standin: true, and [Start] and
// [ListenAndServe] log a WARN line when they start serving.
//
// # Endpoints
//
//   - GET, HEAD /            "Ollama is running (YouWorker stand-in ...)"
//   - GET, HEAD /api/version {"version":"0.0.0-youworker-standin"}
//   - GET, HEAD /api/tags    the configured chat and embedding models
//   - POST /api/show         details and capabilities of a configured model
//     (completion and tools; vision for [Options].VisionModels; embedding);
//     404 {"error":"model 'x' not found"} otherwise
//   - POST /api/chat         scripted chat, streaming (NDJSON, the default) or
//     not ("stream": false)
//   - POST /api/embed        deterministic embeddings ("input" is a string or
//     an array of strings)
//   - POST /api/embeddings   legacy single-prompt embeddings ("prompt" →
//     "embedding")
//   - POST /_standin/control runtime control for out-of-process use (see below)
//   - GET /_standin/stats    the [Stats] counters as JSON
//
// Model names are compared after adding the ":latest" tag to names without a
// tag, as Ollama does. By default chat and embed accept any model name. With
// [Options].StrictModels, a name that is not configured answers 404
// {"error":"model \"NAME\" not found, try pulling it first"}, and a configured
// model of the wrong kind answers 400 ("\"NAME\" does not support chat" or
// "... does not support embeddings"). A missing model answers 400
// "model is required", a malformed body 400 {"error":"<decoder message>"}, an
// empty body 400 "missing request body", a wrong method 405 and an unknown
// path 404, all with a JSON {"error": ...} body that the real client turns
// into an api.StatusError.
//
// # Scripted chat
//
// Let U be the content of the LAST message with role "user" and A the
// messages after it (the assistant and tool messages of the current agent
// turn; all messages if there is no user message). Directives are lower-case
// keywords that start a word (not preceded by a letter, digit, '_' or '-').
// NAME is a tool name ([letters digits _ . : -], trailing '.', ':' and '-'
// dropped so that a sentence may end after it). The optional JSON object
// follows NAME after spaces or tabs; it defaults to {} and a malformed object
// is treated as {}. The reply is chosen by the first rule that applies:
//
//  1. Directives in U, in the order they appear:
//     `call NAME {json}` is issued if A contains no tool message yet and NAME
//     is among the request's tools (a call to a tool that is not offered is
//     ignored); `force-call NAME {json}` is issued if A contains no tool
//     message yet, even when NAME is not offered (a misbehaving or
//     prompt-injected model); `loop NAME {json}` is issued on EVERY request,
//     even after tool results, as long as NAME is offered (for step caps).
//     If any directive was issued, the reply is those tool calls, in order, in
//     one assistant message with empty content.
//  2. Injection: otherwise, `call` and `force-call` directives in the content
//     of the most recent tool message in A are followed the same way (`call`
//     only if offered), except a directive for which A already contains an
//     assistant tool call with the same NAME and the same arguments (so an
//     injected instruction is followed once, not forever).
//  3. Otherwise a text reply. `reply "text"` in U (a JSON string literal, so
//     escapes work) makes the reply exactly that text. Else
//     `reply-tokens N` in U makes it "w1 w2 ... wN" (N at most 1,000,000).
//     Else it is "You said: <the first 12 words of U>" followed, for each image
//     of U's message, by " Image N: <media type as net/http sniffs it>, <size>
//     bytes." and, for each tool message in A, by " Tool NAME returned: <first
//     200 characters of its content>", NAME being the message's tool_name or
//     "tool". With a "format" in the request, the text is held to it as a
//     constrained model's would be: "json" gives {"reply": TEXT}; a JSON Schema
//     an object with each top-level property (strings TEXT, numbers 0,
//     booleans false, arrays [], objects {}, other types null), or
//     {"reply": TEXT} when it has no properties.
//
// Tool calls carry function.index (0-based position), the arguments and a
// deterministic id "call_xxxxxxxx".
//
// A text reply is split into tokens: a token is a word plus the whitespace
// after it, punctuation stays attached, so the tokens concatenate to the
// reply. options.num_predict > 0 keeps only that many tokens and sets
// done_reason "length"; otherwise done_reason is "stop".
//
// Streaming writes one NDJSON chunk per token (or one chunk with
// message.tool_calls), then a final chunk with done: true, empty content,
// done_reason, the counts and durations. Non-streaming writes one response
// holding the whole message, done: true and the same counts.
// prompt_eval_count is the number of whitespace-separated words in the
// contents of all request messages; eval_count is the number of tokens
// emitted, or the number of tool calls for a tool-call reply. Content is
// deterministic; created_at and the durations are real time.
//
// The embed delay ([Options].EmbedDelay, [Server.SetEmbedDelay], "embed_delay_ms" in the control
// request) is slept once per /api/embed request: an embedder with a fixed cost per batch.
//
// The token delay ([Options].TokenDelay, [Server.SetTokenDelay]) is slept
// before every token, the first included, and once before a tool-call
// message, in streaming and non-streaming mode alike. The wait ends at once
// when the client disconnects or the server shuts down; a stream cut that way
// ends with an NDJSON {"error": ...} line, so the client reports an error.
//
// # Embeddings
//
// [Embed] is normalised feature hashing: the text is lower-cased and split
// into words of Unicode letters and digits; each word's FNV-1a 64-bit hash h
// adds +1 (top bit clear) or -1 (top bit set) to component h mod dim; the sum
// is L2-normalised. Texts sharing words are therefore close in cosine
// similarity. A text without words (or whose words cancel out) gets the fixed
// unit vector with every component 1/sqrt(dim). /api/embed returns one
// embedding per input (an empty string is an input too; a missing input gives
// no embeddings), of [Options].Dimension components or the request's
// "dimensions" when > 0; prompt_eval_count is the number of words.
//
// # Fault injection
//
// [Server.SetFaults] sets [Faults] for "chat" (/api/chat), "embed"
// (/api/embed and /api/embeddings) or "*" (both, sharing one call counter;
// an endpoint's own faults take precedence over "*"). Faults are checked
// after the request body is decoded and validated. FailFirst fails the first
// N calls after the faults are set, FailRate then fails that fraction of
// calls in a pseudo-random sequence fixed by Seed, each failure answering
// Status (default 500) with {"error":"stand-in injected failure"}. Hang holds
// the request until the client disconnects, the server shuts down (503) or
// [Server.ClearFaults] is called (the request is then served normally).
//
// POST /_standin/control takes
//
//	{"clear_faults": true,
//	 "faults": {"chat": {"fail_first": 2, "fail_rate": 0.1, "hang": false, "status": 503, "seed": 1},
//	            "embed": {...}, "*": {...}},
//	 "token_delay_ms": 5,
//	 "reset_stats": true}
//
// (every field optional, applied in that order; a faults entry with all
// fields zero removes that endpoint's faults; unknown fields are rejected)
// and answers {"token_delay_ms": ..., "stats": {...}}.
package ollama
