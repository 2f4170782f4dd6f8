package store

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
)

// The stored forms of what a turn's model call needs besides the text: a message's images, a
// session's client-side functions and response format, each a JSON document encrypted and bound
// to its row. Sealed here when stored, opened here by whoever reads them (the LLM activity, the
// account export), next to the bindings (rekey.go) they are sealed under.

// SealImages is the stored form of a message's images (messages.images): their JSON array (each
// image base64), encrypted and bound to message id; nil when there are none.
func SealImages(box *encryption.Box, id uuid.UUID, images [][]byte) ([]byte, error) {
	if len(images) == 0 {
		return nil, nil
	}
	return sealJSON(box, MessageImages(id), images)
}

// OpenImages is the inverse of SealImages: the raw bytes of each image (nil for none).
func OpenImages(box *encryption.Box, id uuid.UUID, sealed []byte) ([][]byte, error) {
	var images [][]byte
	return images, openSealed(box, MessageImages(id), sealed, &images)
}

// SealClientTools is the stored form of a session's client-side functions
// (chat_sessions.client_tools): their JSON array, encrypted and bound to session id; nil when
// there are none.
func SealClientTools(box *encryption.Box, sessionID uuid.UUID, tools []models.ClientTool) ([]byte, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	return sealJSON(box, SessionClientTools(sessionID), tools)
}

// OpenClientTools is the inverse of SealClientTools (nil for none).
func OpenClientTools(box *encryption.Box, sessionID uuid.UUID, sealed []byte) ([]models.ClientTool, error) {
	var tools []models.ClientTool
	return tools, openSealed(box, SessionClientTools(sessionID), sealed, &tools)
}

// SealResponseFormat is the stored form of a session's response format
// (chat_sessions.response_format): Ollama's format value (JSON), encrypted and bound to session
// id; nil when there is none.
func SealResponseFormat(box *encryption.Box, sessionID uuid.UUID, format json.RawMessage) ([]byte, error) {
	if len(format) == 0 {
		return nil, nil
	}
	return box.Encrypt(SessionResponseFormat(sessionID), format)
}

// OpenResponseFormat is the inverse of SealResponseFormat (nil for none).
func OpenResponseFormat(box *encryption.Box, sessionID uuid.UUID, sealed []byte) (json.RawMessage, error) {
	var format json.RawMessage
	return format, openSealed(box, SessionResponseFormat(sessionID), sealed, &format)
}

// sealJSON encodes v as JSON and encrypts it bound to b; openSealed is its inverse.
func sealJSON(box *encryption.Box, b encryption.Binding, v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return box.Encrypt(b, raw)
}

// openSealed decrypts sealed (bound to b) and decodes its JSON into v; nothing sealed leaves v alone.
func openSealed(box *encryption.Box, b encryption.Binding, sealed []byte, v any) error {
	if len(sealed) == 0 {
		return nil
	}
	raw, err := box.Decrypt(b, sealed)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", b, err)
	}
	return nil
}
