package store_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// What is sealed opens only as what it was sealed for (its row); nothing sealed opens as nothing.
func TestSealedColumnsOpenForTheirRowOnly(t *testing.T) {
	t.Parallel()
	key, err := encryption.GenerateKey()
	require.NoError(t, err)
	box, err := encryption.New([]string{key})
	require.NoError(t, err)
	msg, session := uuid.New(), uuid.New()

	images := [][]byte{[]byte("\x89PNG one"), []byte("\xff\xd8 two")}
	sealed, err := store.SealImages(box, msg, images)
	require.NoError(t, err)
	got, err := store.OpenImages(box, msg, sealed)
	require.NoError(t, err)
	require.Equal(t, images, got)
	_, err = store.OpenImages(box, uuid.New(), sealed)
	require.Error(t, err, "bound to its message")

	tools := []models.ClientTool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}}
	sealed, err = store.SealClientTools(box, session, tools)
	require.NoError(t, err)
	gotTools, err := store.OpenClientTools(box, session, sealed)
	require.NoError(t, err)
	require.Equal(t, tools, gotTools)
	_, err = store.OpenClientTools(box, msg, sealed)
	require.Error(t, err, "bound to its session")

	none, err := store.SealClientTools(box, session, nil)
	require.NoError(t, err)
	require.Nil(t, none)
	noTools, err := store.OpenClientTools(box, session, none)
	require.NoError(t, err)
	require.Nil(t, noTools)

	schema := json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)
	sealed, err = store.SealResponseFormat(box, session, schema)
	require.NoError(t, err)
	format, err := store.OpenResponseFormat(box, session, sealed)
	require.NoError(t, err)
	require.JSONEq(t, string(schema), string(format))
	_, err = store.OpenResponseFormat(box, msg, sealed)
	require.Error(t, err, "bound to its session")
	none, err = store.SealResponseFormat(box, session, nil)
	require.NoError(t, err)
	require.Nil(t, none)
	noFormat, err := store.OpenResponseFormat(box, session, none)
	require.NoError(t, err)
	require.Nil(t, noFormat)
}
