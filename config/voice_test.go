package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVoiceSettings(t *testing.T) {
	t.Parallel()
	vars := base()
	c, err := FromMap(vars)
	require.NoError(t, err)
	require.False(t, c.VoiceEnabled(), "voice is off without WHISPER_URL")
	require.Equal(t, int64(25<<20), c.AudioLimit(), "25 MiB like OpenAI by default")
	require.Zero(t, c.AudioInlineBytes(), "without WHISPER_URL the completions body cap does not grow")

	vars["WHISPER_URL"] = "http://127.0.0.1:9000/v1/audio/transcriptions"
	vars["MAX_UPLOAD_BYTES"] = "4096"
	c, err = FromMap(vars)
	require.NoError(t, err)
	require.True(t, c.VoiceEnabled())
	require.Equal(t, int64(4096), c.AudioLimit(), "never above MAX_UPLOAD_BYTES")
	require.Equal(t, int64(4096*4/3+4*128), c.AudioInlineBytes())

	for name, tc := range map[string][2]string{
		"not a URL":       {"WHISPER_URL", "whisper:9000"},
		"no scheme http":  {"WHISPER_URL", "ftp://whisper/v1/audio/transcriptions"},
		"tiny audio cap":  {"AUDIO_MAX_BYTES", "10"},
		"too many audios": {"AUDIO_MAX_COUNT", "17"},
		"negative count":  {"AUDIO_MAX_COUNT", "-1"},
		"no timeout":      {"WHISPER_TIMEOUT", "0s"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := base()
			v[tc[0]] = tc[1]
			_, err := FromMap(v)
			require.ErrorContains(t, err, tc[0])
		})
	}
}
