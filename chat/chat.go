// Package chat is the chat-turn lifecycle: posting a message (one validation, one store write,
// one workflow start, one compensation, for the native and the OpenAI-compatible routes alike) and
// the reaper that finishes turns whose workflow is gone.
package chat
