package workflows

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/youworker/youworker/activities"
)

func TestFailureDescriptions(t *testing.T) {
	t.Parallel()
	timeout := temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil)
	cases := []struct {
		name          string
		f             failure
		err           error
		code, message string
	}{
		{"no error", turnFailure, nil, "", ""},
		{"typed application error", turnFailure, temporal.NewApplicationError("tool server said no", "TOOL_DENIED"), "TOOL_DENIED", "tool server said no"},
		{"friendlier message", turnFailure, temporal.NewApplicationError("dial tcp: refused", activities.ErrTypeLLMUnavailable),
			CodeLLMUnavailable, "the language model is unavailable; your message is kept, please retry later"},
		{"step limit", turnFailure, temporal.NewApplicationError("cap", CodeStepLimit), CodeStepLimit, "the model kept calling tools beyond the step limit"},
		{"untyped application error", turnFailure, temporal.NewApplicationError("boom", ""), CodeInternal, "boom"},
		{"turn timeout", turnFailure, timeout, CodeLLMUnavailable, "the language model did not answer in time"},
		{"anything else", turnFailure, errors.New("panic"), CodeInternal, "the turn failed"},
		{"stage timeout", ingestFailure, timeout, "STAGE_TIMEOUT", "a stage did not finish in time"},
		{"extraction refused", ingestFailure, temporal.NewApplicationError("not a PDF", "UNSUPPORTED_TYPE"), "UNSUPPORTED_TYPE", "not a PDF"},
		{"ingestion other", ingestFailure, errors.New("x"), "INGESTION_FAILED", "the ingestion failed"},
	}
	for _, tc := range cases {
		code, message := tc.f.describe(tc.err)
		require.Equal(t, tc.code, code, tc.name)
		require.Equal(t, tc.message, message, tc.name)
	}
}
