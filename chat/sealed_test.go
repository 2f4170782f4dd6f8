package chat_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
)

// What is sealed opens only as what it was sealed for (its row); nothing sealed opens as nothing.
func TestSealedImagesAndClientToolsOpenForTheirRowOnly(t *testing.T) {
	t.Parallel()
	key, err := encryption.GenerateKey()
	require.NoError(t, err)
	box, err := encryption.New([]string{key})
	require.NoError(t, err)
	msg, session := uuid.New(), uuid.New()

	images := [][]byte{[]byte("\x89PNG one"), []byte("\xff\xd8 two")}
	sealed, err := chat.SealImages(box, msg, images)
	require.NoError(t, err)
	got, err := chat.OpenImages(box, msg, sealed)
	require.NoError(t, err)
	require.Equal(t, images, got)
	_, err = chat.OpenImages(box, uuid.New(), sealed)
	require.Error(t, err, "bound to its message")

	tools := []models.ClientTool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}}
	sealed, err = chat.SealClientTools(box, session, tools)
	require.NoError(t, err)
	gotTools, err := chat.OpenClientTools(box, session, sealed)
	require.NoError(t, err)
	require.Equal(t, tools, gotTools)
	_, err = chat.OpenClientTools(box, msg, sealed)
	require.Error(t, err, "bound to its session")

	none, err := chat.SealClientTools(box, session, nil)
	require.NoError(t, err)
	require.Nil(t, none)
	noTools, err := chat.OpenClientTools(box, session, none)
	require.NoError(t, err)
	require.Nil(t, noTools)
}
