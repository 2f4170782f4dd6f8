package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/require"
	"github.com/youworker/youworker/standin/ollama"
	"go.temporal.io/sdk/client"
)

// sdkClient is the official OpenAI Go SDK pointed at the platform with an API key of u, as a
// user would configure it (no retries: a test sees the first answer).
func (u *user) sdkClient(t *testing.T) openai.Client {
	t.Helper()
	minted := u.do("POST", "/v1/account/api-keys", map[string]any{"name": "openai sdk", "scopes": []string{"chat", "read"}})
	require.Equal(t, http.StatusCreated, minted.status, "%s", minted.body)
	return openai.NewClient(option.WithBaseURL(u.p.apiURL+"/v1/"), option.WithAPIKey(minted.json(t)["key"].(string)), option.WithMaxRetries(0))
}

// turnOf reads the session and turn a completion ran as (YouWorker's extra fields).
func turnOf(t *testing.T, raw string) (sessionID, turnID string) {
	t.Helper()
	var extra struct {
		SessionID string `json:"session_id"`
		TurnID    string `json:"turn_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &extra))
	return extra.SessionID, extra.TurnID
}

// The official OpenAI Go SDK works against YouWorker unchanged: plain and streamed completions,
// a round trip through a client-side function (non-streamed and streamed), images, the model
// list, and its errors (a bad key is 401, an unknown model 404, both read by the SDK). Every
// completion is a durable turn in the user's history and in Temporal.
func TestOpenAISDK(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("sdk")
	oc := u.sdkClient(t)
	ctx := context.Background()

	t.Run("plain completion", func(t *testing.T) {
		c, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llama3.1:8b", User: openai.String("end-user-7"),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("hello sdk")}})
		require.NoError(t, err)
		require.Equal(t, "You said: hello sdk", strings.TrimSpace(c.Choices[0].Message.Content))
		require.Equal(t, "stop", c.Choices[0].FinishReason)
		require.Positive(t, c.Usage.CompletionTokens)
		sid, tid := turnOf(t, c.RawJSON())
		sess := u.do("GET", "/v1/sessions/"+sid, nil).json(t)
		require.Equal(t, "end-user-7", sess["session"].(map[string]any)["end_user"], "the request's user is kept with the session")
		require.Len(t, sess["messages"], 2, "the question and the answer are in the user's history")
		turn := u.do("GET", "/v1/sessions/"+sid+"/turns/"+tid, nil).json(t)
		require.Equal(t, "completed", turn["status"])
		tc, err := client.Dial(client.Options{HostPort: p.env["TEMPORAL_ADDRESS"], Namespace: p.env["TEMPORAL_NAMESPACE"]})
		require.NoError(t, err)
		defer tc.Close()
		wf, err := tc.DescribeWorkflowExecution(ctx, turn["workflow_id"].(string), "")
		require.NoError(t, err)
		require.Equal(t, "ChatTurn", wf.WorkflowExecutionInfo.Type.Name, "the completion is a durable turn Temporal shows")
	})

	t.Run("streamed completion", func(t *testing.T) {
		stream := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "llama3.1:8b",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("reply-tokens 6")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		require.NoError(t, stream.Err())
		require.Equal(t, "w1 w2 w3 w4 w5 w6", strings.TrimSpace(acc.Choices[0].Message.Content))
		require.Equal(t, "stop", acc.Choices[0].FinishReason)
		require.Equal(t, int64(6), acc.Usage.CompletionTokens)
	})

	weather := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather",
		Description: openai.String("The weather in a city"),
		Parameters: shared.FunctionParameters{"type": "object", "required": []string{"city"},
			"properties": map[string]any{"city": map[string]any{"type": "string"}}}})
	ask := `What is the weather in Paris? call get_weather {"city":"Paris"}`
	for _, streamed := range []bool{false, true} {
		name := map[bool]string{false: "client tool round trip", true: "streamed client tool round trip"}[streamed]
		t.Run(name, func(t *testing.T) {
			params := openai.ChatCompletionNewParams{Model: "llama3.1:8b", Tools: []openai.ChatCompletionToolUnionParam{weather},
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(ask)}}
			var raw string // the last non-streamed answer
			complete := func() openai.ChatCompletionChoice {
				t.Helper()
				if !streamed {
					c, err := oc.Chat.Completions.New(ctx, params)
					require.NoError(t, err)
					raw = c.RawJSON()
					return c.Choices[0]
				}
				stream := oc.Chat.Completions.NewStreaming(ctx, params)
				var acc openai.ChatCompletionAccumulator
				for stream.Next() {
					acc.AddChunk(stream.Current())
				}
				require.NoError(t, stream.Err())
				return acc.Choices[0]
			}
			// The model calls the client's function: the turn ends with the call.
			first := complete()
			require.Equal(t, "tool_calls", first.FinishReason)
			require.Len(t, first.Message.ToolCalls, 1)
			call := first.Message.ToolCalls[0]
			require.Equal(t, "get_weather", call.Function.Name)
			require.JSONEq(t, `{"city":"Paris"}`, call.Function.Arguments)
			require.NotEmpty(t, call.ID)
			if !streamed {
				// A completed durable turn, whose answer (the call) is in the user's history.
				sid, tid := turnOf(t, raw)
				turn := u.do("GET", "/v1/sessions/"+sid+"/turns/"+tid, nil).json(t)
				require.Equal(t, "completed", turn["status"])
				msgs := u.do("GET", "/v1/sessions/"+sid, nil).json(t)["messages"].([]any)
				calls := msgs[len(msgs)-1].(map[string]any)["tool_calls"].([]any)
				require.Equal(t, "get_weather", calls[0].(map[string]any)["name"])
				recordHistory(t, p, turn["workflow_id"].(string), "chat_turn_client_tool_call")
			}

			// The client runs it and sends the result: the model answers with it.
			params.Messages = append(params.Messages, first.Message.ToParam(), openai.ToolMessage("22 C and sunny", call.ID))
			second := complete()
			require.Equal(t, "stop", second.FinishReason)
			require.Empty(t, second.Message.ToolCalls)
			require.Equal(t, "You said: "+ask+" Tool get_weather returned: 22 C and sunny", strings.TrimSpace(second.Message.Content))
		})
	}

	t.Run("image", func(t *testing.T) {
		png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
		c, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llava:7b",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("what is this?"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)}),
			})}})
		require.NoError(t, err)
		require.Equal(t, "You said: what is this? Image 1: image/png, 16 bytes.", strings.TrimSpace(c.Choices[0].Message.Content),
			"the image reached the model")

		_, err = oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llava:7b",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "https://example.com/cat.png"}),
			})}})
		var apiErr *openai.Error
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
		require.Equal(t, "messages[0].content[0].image_url.url", apiErr.Param)
	})

	t.Run("models list", func(t *testing.T) {
		page, err := oc.Models.List(ctx)
		require.NoError(t, err)
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		require.Contains(t, ids, "llama3.1:8b")
		require.Contains(t, ids, "llava:7b")
		require.False(t, slices.Contains(ids, "nomic-embed-text:latest"), "no embedding model")
		m, err := oc.Models.Get(ctx, "llama3.1:8b")
		require.NoError(t, err)
		require.Equal(t, "llama3.1:8b", m.ID)
	})

	t.Run("bad key", func(t *testing.T) {
		bad := openai.NewClient(option.WithBaseURL(p.apiURL+"/v1/"), option.WithMaxRetries(0),
			option.WithAPIKey("yw_"+strings.Repeat("0", 32)+"_"+strings.Repeat("a", 64)))
		_, err := bad.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llama3.1:8b",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "%v", err)
		require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
		require.Equal(t, "authentication_error", apiErr.Type)
		require.Equal(t, "invalid_api_key", apiErr.Code)
		require.NotEmpty(t, apiErr.Message)
		_, err = bad.Models.List(ctx)
		require.True(t, errors.As(err, &apiErr), "%v", err)
		require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
	})

	t.Run("unknown model", func(t *testing.T) {
		_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-5",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "%v", err)
		require.Equal(t, http.StatusNotFound, apiErr.StatusCode)
		require.Equal(t, "model_not_found", apiErr.Code)
		require.Equal(t, "model", apiErr.Param)
	})

	t.Run("cut at max_tokens", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{Model: "llama3.1:8b", MaxTokens: openai.Int(2),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("reply-tokens 6")}}
		c, err := oc.Chat.Completions.New(ctx, params)
		require.NoError(t, err)
		require.Equal(t, "w1 w2", strings.TrimSpace(c.Choices[0].Message.Content))
		require.Equal(t, "length", c.Choices[0].FinishReason, "the client learns the answer was cut")
		stream := oc.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		require.NoError(t, stream.Err())
		require.Equal(t, "length", acc.Choices[0].FinishReason)
	})

	t.Run("parameters clients send by default", func(t *testing.T) {
		// What LangChain and chat UIs send with every request: accepted, and the penalties reach
		// the model as Ollama's options.
		c, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llama3.1:8b",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello defaults")},
			N:        openai.Int(1), PresencePenalty: openai.Float(0), FrequencyPenalty: openai.Float(0.5), TopP: openai.Float(1),
			ParallelToolCalls: openai.Bool(true), Logprobs: openai.Bool(false), Store: openai.Bool(false)})
		require.NoError(t, err)
		require.Equal(t, "You said: hello defaults", strings.TrimSpace(c.Choices[0].Message.Content))
		opts := p.ollama.LastChatOptions()
		require.Equal(t, 0.5, opts["frequency_penalty"])
		require.Equal(t, 0.0, opts["presence_penalty"])
		require.Equal(t, 1.0, opts["top_p"])

		_, err = oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llama3.1:8b", N: openai.Int(3),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("three answers")}})
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "%v", err)
		require.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
		require.Equal(t, "n", apiErr.Param)
	})

	t.Run("one tool call per message", func(t *testing.T) {
		// parallel_tool_calls false: of a message calling two functions, the first is returned
		// (the model asks for the next once it has that result); by default both are.
		two := `call get_weather {"city":"Paris"} call get_weather {"city":"Rome"}`
		for _, parallel := range []bool{true, false} {
			c, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llama3.1:8b",
				Tools: []openai.ChatCompletionToolUnionParam{weather}, ParallelToolCalls: openai.Bool(parallel),
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(two)}})
			require.NoError(t, err)
			require.Equal(t, "tool_calls", c.Choices[0].FinishReason)
			calls := c.Choices[0].Message.ToolCalls
			if parallel {
				require.Len(t, calls, 2)
				continue
			}
			require.Len(t, calls, 1)
			require.JSONEq(t, `{"city":"Paris"}`, calls[0].Function.Arguments)
		}
	})

	t.Run("structured output", func(t *testing.T) {
		// response_format reaches the model as Ollama's format (the stand-in answers as a model
		// held to it would), streamed or not.
		schema := map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"},
			"celsius": map[string]any{"type": "number"}}, "required": []string{"city", "celsius"}}
		params := openai.ChatCompletionNewParams{Model: "llama3.1:8b",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris")},
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "weather", Schema: schema, Strict: openai.Bool(true)}}}}
		c, err := oc.Chat.Completions.New(ctx, params)
		require.NoError(t, err)
		var got struct {
			City    string  `json:"city"`
			Celsius float64 `json:"celsius"`
		}
		require.NoError(t, json.Unmarshal([]byte(c.Choices[0].Message.Content), &got), "%s", c.Choices[0].Message.Content)
		require.Equal(t, "You said: weather in Paris", got.City)
		stream := oc.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		require.NoError(t, stream.Err())
		require.JSONEq(t, c.Choices[0].Message.Content, acc.Choices[0].Message.Content)

		c, err = oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llama3.1:8b",
			Messages:       []openai.ChatCompletionMessageParamUnion{openai.UserMessage("any json")},
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}})
		require.NoError(t, err)
		require.JSONEq(t, `{"reply":"You said: any json"}`, c.Choices[0].Message.Content)
	})

	t.Run("failed turn", func(t *testing.T) {
		// The model refuses the request (a 400 is not retried): the turn fails, and the SDK
		// reports the turn's error, streamed or not.
		p.ollama.SetFaults("chat", ollama.Faults{FailRate: 1, Status: http.StatusBadRequest})
		defer p.ollama.ClearFaults()
		params := openai.ChatCompletionNewParams{Model: "llama3.1:8b",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}
		_, err := oc.Chat.Completions.New(ctx, params)
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "%v", err)
		require.Equal(t, http.StatusUnprocessableEntity, apiErr.StatusCode)
		stream := oc.Chat.Completions.NewStreaming(ctx, params)
		for stream.Next() {
			require.NotEqual(t, "error", stream.Current().Choices[0].FinishReason, "not a finish_reason OpenAI has")
		}
		require.Error(t, stream.Err(), "the stream's error event is the SDK's error")
		require.Contains(t, stream.Err().Error(), "llm_bad_request")
	})
}
