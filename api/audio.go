package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/telemetry"
	"github.com/youworker/youworker/transcribe"
)

// Voice: POST /v1/audio/transcriptions (OpenAI's shape) and audio on a turn (input_audio parts of
// /v1/chat/completions, a multipart voice message on /v1/sessions/:id/messages). The audio goes
// to the Whisper-compatible endpoint WHISPER_URL through package transcribe; the transcript is
// what is stored and answered, the audio itself is never stored. Without WHISPER_URL every voice
// request answers 501 VOICE_NOT_CONFIGURED.

// transcriptionsRoute is OpenAI's transcription route; its errors come in OpenAI's shape.
const transcriptionsRoute = "/v1/audio/transcriptions"

// transcriber is what the voice routes need of transcribe.Client.
type transcriber interface {
	Transcribe(ctx context.Context, r transcribe.Request) (transcribe.Result, error)
}

// newTranscriber is the client of WHISPER_URL, nil when it is not set.
func newTranscriber(cfg config.Config) transcriber {
	if !cfg.VoiceEnabled() {
		return nil
	}
	return &transcribe.Client{URL: cfg.WhisperURL, Model: cfg.WhisperModel, APIKey: cfg.WhisperAPIKey, Timeout: cfg.WhisperTimeout,
		HTTP: &http.Client{Transport: telemetry.Transport(http.DefaultTransport, "whisper")}}
}

func (s *Server) transcribeRate() rateClass {
	return rateClass{"transcriptions", s.cfg.RateTranscribe, true}
}

var errVoiceOff = models.Errorf(models.ErrNotImplemented, "VOICE_NOT_CONFIGURED",
	"audio transcription is not configured on this server: WHISPER_URL is not set")

// audioUpload reports whether the request is a multipart audio upload, whose body cap is
// AUDIO_MAX_BYTES (limitBody): the transcription route, and a voice message.
func (s *Server) audioUpload(c *gin.Context) bool {
	if c.Request.Method != http.MethodPost {
		return false
	}
	return c.FullPath() == transcriptionsRoute || (c.FullPath() == "/v1/sessions/:id/messages" && multipartRequest(c))
}

func multipartRequest(c *gin.Context) bool {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	return mt == "multipart/form-data"
}

// audioFile is an uploaded or decoded audio file: its bytes on disk (uploads) or in memory
// (input_audio), and its media type as sniffed.
type audioFile struct {
	r         io.ReaderAt
	size      int64
	mediaType string
	tmp       *os.File
}

func (a *audioFile) release() {
	if a != nil && a.tmp != nil {
		_ = a.tmp.Close()
		_ = os.Remove(a.tmp.Name())
	}
}

// webm is the EBML header of a WebM file (what browsers record), which extract.Sniff does not know.
func webm(head []byte) bool {
	return bytes.HasPrefix(head, []byte{0x1A, 0x45, 0xDF, 0xA3}) && bytes.Contains(head[:min(len(head), 64)], []byte("webm"))
}

// sniffAudio decides the media type from the content; anything but audio the transcription
// service takes is refused (415), whatever the client's name or type said.
func sniffAudio(field string, r io.ReaderAt, size int64) (string, error) {
	if size == 0 {
		return "", models.Invalid(field, "%s is empty", field)
	}
	head := make([]byte, min(size, 64))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	mt := "audio/webm"
	if !webm(head) {
		var err error
		if mt, err = extract.Sniff(r, size, ""); err != nil {
			mt = ""
		}
	}
	if _, ok := transcribe.Extension(mt); !ok {
		what := "unrecognised content"
		if mt != "" {
			what = mt
		}
		return "", models.Errorf(models.ErrUnsupported, "UNSUPPORTED_AUDIO",
			"%s is not audio the transcription service takes (%s); send MP3, WAV, Ogg/Opus, FLAC, M4A or WebM", field, what).WithDetails(map[string]any{"field": field})
	}
	return mt, nil
}

// spoolAudio copies an uploaded file to a temporary file within AUDIO_MAX_BYTES and sniffs it.
func (s *Server) spoolAudio(field string, part io.Reader) (*audioFile, error) {
	tmp, err := os.CreateTemp("", "youworker-audio-*")
	if err != nil {
		return nil, err
	}
	a := &audioFile{r: tmp, tmp: tmp}
	limit := s.cfg.AudioLimit()
	n, err := io.Copy(tmp, io.LimitReader(part, limit+1))
	if err != nil {
		a.release()
		return nil, err
	}
	if n > limit {
		a.release()
		return nil, audioTooLarge(limit)
	}
	a.size = n
	if a.mediaType, err = sniffAudio(field, tmp, n); err != nil {
		a.release()
		return nil, err
	}
	return a, nil
}

func audioTooLarge(limit int64) error {
	return models.Errorf(models.ErrTooLarge, "AUDIO_TOO_LARGE", "the audio exceeds %d bytes (AUDIO_MAX_BYTES)", limit).
		WithDetails(map[string]any{"limit_bytes": limit})
}

// uploadError maps a body over its cap (limitBody) to 413, and a broken multipart body to 400.
func uploadError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	var me *models.Error
	switch {
	case errors.As(err, &mbe):
		return audioTooLarge(limit)
	case errors.As(err, &me):
		return err
	}
	return models.Errorf(models.ErrInvalid, "MALFORMED_MULTIPART", "malformed multipart body")
}

// transcribe sends one audio to WHISPER_URL.
func (s *Server) transcribe(c *gin.Context, a *audioFile, r transcribe.Request) (transcribe.Result, error) {
	if s.voice == nil {
		return transcribe.Result{}, errVoiceOff
	}
	r.Audio, r.Size, r.MediaType = io.NewSectionReader(a.r, 0, a.size), a.size, a.mediaType
	res, err := s.voice.Transcribe(c.Request.Context(), r)
	if err != nil {
		return transcribe.Result{}, s.voiceError(c, err)
	}
	return res, nil
}

// voiceError maps a failed transcription: the audio refused by the service is the client's
// (422, 413, 415); the service failing, timing out or refusing this server's credentials is a
// 502 or 503. The upstream's message is passed on only for refused audio, and never holds
// WHISPER_API_KEY (transcribe redacts it).
func (s *Server) voiceError(c *gin.Context, err error) error {
	var se *transcribe.StatusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		switch se.Status {
		case http.StatusBadRequest, http.StatusUnprocessableEntity:
			return models.Errorf(models.ErrUnprocessable, "AUDIO_NOT_TRANSCRIBED", "the transcription service could not transcribe the audio: %s", se.Message).Wrap(err)
		case http.StatusRequestEntityTooLarge:
			return models.Errorf(models.ErrTooLarge, "AUDIO_TOO_LARGE", "the transcription service refused the audio as too large: %s", se.Message).Wrap(err)
		case http.StatusUnsupportedMediaType:
			return models.Errorf(models.ErrUnsupported, "UNSUPPORTED_AUDIO", "the transcription service does not take this audio format: %s", se.Message).Wrap(err)
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			if se.RetryAfter != "" {
				c.Header("Retry-After", se.RetryAfter)
			}
			return models.Errorf(models.ErrUnavailable, "TRANSCRIPTION_UNAVAILABLE", "the transcription service is busy or unavailable; please retry").Wrap(err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return models.Errorf(models.ErrBadGateway, "TRANSCRIPTION_FAILED", "the transcription service refused this server's credentials (WHISPER_API_KEY); tell the operator").Wrap(err)
		}
		return models.Errorf(models.ErrBadGateway, "TRANSCRIPTION_FAILED", "the transcription service failed (HTTP %d)", se.Status).Wrap(err)
	case errors.Is(err, transcribe.ErrMalformed):
		return models.Errorf(models.ErrBadGateway, "TRANSCRIPTION_FAILED", "the transcription service answered something that is not a transcription").Wrap(err)
	case c.Request.Context().Err() != nil:
		return c.Request.Context().Err()
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne):
		return models.Errorf(models.ErrUnavailable, "TRANSCRIPTION_UNAVAILABLE", "the transcription service did not answer in time or cannot be reached; please retry").Wrap(err)
	}
	return models.Errorf(models.ErrBadGateway, "TRANSCRIPTION_FAILED", "the transcription service failed").Wrap(err)
}

// transcriptionForm is what POST /v1/audio/transcriptions takes, as OpenAI names it.
type transcriptionForm struct {
	audio         *audioFile
	language      string
	prompt        string
	format        string
	temperature   *float64
	granularities []string
}

var languageCode = regexp.MustCompile(`^[A-Za-z]{2,3}$`)

var responseFormats = []string{transcribe.FormatJSON, transcribe.FormatText, transcribe.FormatVerboseJSON, transcribe.FormatSRT, transcribe.FormatVTT}

// readTranscriptionForm reads the multipart form: file (required), model, language, prompt,
// response_format, temperature, timestamp_granularities[] and stream (false only). Unknown
// fields are refused, so a client relying on one learns at once that it is not supported.
func (s *Server) readTranscriptionForm(c *gin.Context) (transcriptionForm, error) {
	var f transcriptionForm
	if !multipartRequest(c) {
		return f, models.Errorf(models.ErrUnsupported, "UNSUPPORTED_MEDIA_TYPE", "send multipart/form-data with a `file` field")
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return f, models.Errorf(models.ErrInvalid, "MALFORMED_MULTIPART", "malformed multipart body")
	}
	fail := func(err error) (transcriptionForm, error) {
		f.audio.release()
		return transcriptionForm{}, err
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(uploadError(err, s.cfg.AudioLimit()))
		}
		name := part.FormName()
		if name == "file" {
			if f.audio != nil {
				return fail(models.Invalid("file", "send one file per request"))
			}
			if f.audio, err = s.spoolAudio("file", part); err != nil {
				return fail(uploadError(err, s.cfg.AudioLimit()))
			}
			continue
		}
		raw, err := io.ReadAll(io.LimitReader(part, int64(4*s.cfg.MaxMessageChars)+1))
		if err != nil {
			return fail(uploadError(err, s.cfg.AudioLimit()))
		}
		v := strings.TrimSpace(string(raw))
		switch name {
		case "model":
			if len(v) > 100 {
				return fail(models.Invalid("model", "model is at most 100 characters"))
			}
		case "language":
			if v != "" && !languageCode.MatchString(v) {
				return fail(models.Invalid("language", "language must be an ISO-639-1 code such as en"))
			}
			f.language = strings.ToLower(v)
		case "prompt":
			if err := s.chat.ValidateLength("prompt", v); err != nil {
				return fail(err)
			}
			f.prompt = v
		case "response_format":
			if !slices.Contains(responseFormats, v) {
				return fail(models.Invalid("response_format", "response_format must be one of %s", strings.Join(responseFormats, ", ")))
			}
			f.format = v
		case "temperature":
			t, err := strconv.ParseFloat(v, 64)
			if err != nil || t < 0 || t > 1 {
				return fail(models.Invalid("temperature", "temperature must be a number between 0 and 1"))
			}
			f.temperature = &t
		case "timestamp_granularities[]", "timestamp_granularities":
			if v != "word" && v != "segment" {
				return fail(models.Invalid("timestamp_granularities", "timestamp_granularities must be word or segment"))
			}
			f.granularities = append(f.granularities, v)
		case "stream":
			if v != "false" {
				return fail(models.Invalid("stream", "streamed transcriptions are not supported; leave stream out or false"))
			}
		default:
			return fail(models.Invalid(name, "unknown field %q (file, model, language, prompt, response_format, temperature and timestamp_granularities[] are taken)", name))
		}
	}
	switch {
	case f.audio == nil:
		return fail(models.Invalid("file", "file is required"))
	case len(f.granularities) > 0 && f.format != transcribe.FormatVerboseJSON:
		return fail(models.Invalid("timestamp_granularities", "timestamp_granularities need response_format verbose_json"))
	}
	return f, nil
}

// transcribeAudio is POST /v1/audio/transcriptions in OpenAI's shape. The model the client names
// is accepted and not forwarded: the server's WHISPER_MODEL transcribes. json answers
// {"text"}; verbose_json, text, srt and vtt answer what the service made of them.
func (s *Server) transcribeAudio(c *gin.Context) {
	if s.voice == nil {
		s.fail(c, errVoiceOff)
		return
	}
	f, err := s.readTranscriptionForm(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	defer f.audio.release()
	res, err := s.transcribe(c, f.audio, transcribe.Request{Language: f.language, Prompt: f.prompt, Temperature: f.temperature,
		Format: f.format, TimestampGranularities: f.granularities})
	if err != nil {
		s.fail(c, err)
		return
	}
	switch f.format {
	case "", transcribe.FormatJSON:
		c.JSON(http.StatusOK, gin.H{"text": strings.TrimSpace(res.Text)})
	case transcribe.FormatVerboseJSON:
		var obj map[string]any
		if json.Unmarshal(res.Body, &obj) != nil {
			s.fail(c, s.voiceError(c, fmt.Errorf("%w: verbose_json is not an object", transcribe.ErrMalformed)))
			return
		}
		c.JSON(http.StatusOK, obj)
	case transcribe.FormatText:
		c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(res.Text))
	default: // srt, vtt: a service answering JSON does not support them
		if mt, _, _ := mime.ParseMediaType(res.ContentType); mt == "application/json" {
			s.fail(c, models.Errorf(models.ErrBadGateway, "TRANSCRIPTION_FAILED", "the transcription service does not support response_format %s", f.format))
			return
		}
		c.Data(http.StatusOK, "text/plain; charset=utf-8", res.Body)
	}
}

// spokenText transcribes the audio of a turn's message, counted against
// RATE_LIMIT_TRANSCRIPTIONS (the transcription route counts in its middleware): the transcript,
// trimmed, becomes the message; audio without recognisable speech is 422.
func (s *Server) spokenText(c *gin.Context, a *audioFile, language, prompt string) (string, error) {
	if wait, err := s.spend(s.transcribeRate(), userRateKey(callerOf(c))); err != nil {
		c.Header("Retry-After", strconv.Itoa(wait))
		return "", err
	}
	res, err := s.transcribe(c, a, transcribe.Request{Language: language, Prompt: prompt})
	if err != nil {
		return "", err
	}
	text := strings.TrimSpace(res.Text)
	if text == "" {
		return "", models.Errorf(models.ErrUnprocessable, "NO_SPEECH", "no speech was recognised in the audio")
	}
	return text, nil
}

// voiceMessage reads a voice message of POST /v1/sessions/:id/messages: multipart/form-data with
// the audio file in `audio` and the optional `language` and `prompt` (a hint for the
// transcription). Its transcript is the message's content. A session the caller cannot see is a
// 404 before anything is transcribed.
func (s *Server) voiceMessage(c *gin.Context, sessionID uuid.UUID) (string, error) {
	if s.voice == nil {
		return "", errVoiceOff
	}
	if _, err := s.store.Session(c.Request.Context(), callerOf(c), sessionID); err != nil {
		return "", err
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return "", models.Errorf(models.ErrInvalid, "MALFORMED_MULTIPART", "malformed multipart body")
	}
	var audio *audioFile
	defer func() { audio.release() }()
	var language, prompt string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", uploadError(err, s.cfg.AudioLimit())
		}
		switch name := part.FormName(); name {
		case "audio":
			if audio != nil {
				return "", models.Invalid("audio", "send one audio file per message")
			}
			if audio, err = s.spoolAudio("audio", part); err != nil {
				return "", uploadError(err, s.cfg.AudioLimit())
			}
		case "language", "prompt":
			raw, err := io.ReadAll(io.LimitReader(part, int64(4*s.cfg.MaxMessageChars)+1))
			if err != nil {
				return "", uploadError(err, s.cfg.AudioLimit())
			}
			v := strings.TrimSpace(string(raw))
			if name == "language" {
				if v != "" && !languageCode.MatchString(v) {
					return "", models.Invalid("language", "language must be an ISO-639-1 code such as en")
				}
				language = strings.ToLower(v)
			} else {
				if err := s.chat.ValidateLength("prompt", v); err != nil {
					return "", err
				}
				prompt = v
			}
		default:
			return "", models.Invalid(name, "unknown field %q (a voice message takes audio, language and prompt)", name)
		}
	}
	if audio == nil {
		return "", models.Invalid("audio", "a multipart message needs its audio file in the `audio` field")
	}
	return s.spokenText(c, audio, language, prompt)
}

// inputAudio is OpenAI's audio content part: {"type": "input_audio", "input_audio": {"data":
// base64, "format": "wav"|"mp3"}}.
type inputAudio struct {
	Type       string `json:"type"`
	InputAudio *struct {
		Data   string `json:"data"`
		Format string `json:"format"`
	} `json:"input_audio"`
}

// audioFormats are the input_audio formats taken: OpenAI's wav and mp3, and what Whisper
// services take besides. The content decides the type sent on; the format only has to be one of them.
var audioFormats = []string{"wav", "mp3", "ogg", "opus", "flac", "m4a", "webm"}

// transcribeCompletionAudio turns the input_audio parts of a completion's user messages into
// text parts holding their transcripts, in place. The request is first checked with every audio
// as a placeholder text, so a request that would be refused anyway costs no transcription. At
// most AUDIO_MAX_COUNT parts of AUDIO_MAX_BYTES together.
func (s *Server) transcribeCompletionAudio(c *gin.Context, msgs []completionMessage, check func([]completionMessage) error) error {
	type found struct {
		msg, part int
		audio     *audioFile
		field     string
	}
	var (
		audios []found
		parts  = map[int][]json.RawMessage{}
		total  int64
	)
	for i, m := range msgs {
		if !bytes.Contains(m.Content, []byte(`"input_audio"`)) {
			continue
		}
		var ps []json.RawMessage
		if json.Unmarshal(m.Content, &ps) != nil {
			continue // not an array: parseConversation says what is wrong
		}
		for j, raw := range ps {
			var p inputAudio
			if json.Unmarshal(raw, &p) != nil || p.Type != "input_audio" {
				continue
			}
			field := fmt.Sprintf("messages[%d].content[%d].input_audio", i, j)
			switch {
			case s.voice == nil:
				return errVoiceOff
			case m.Role != models.RoleUser:
				return models.Invalid(field, "only user messages may hold audio")
			case p.InputAudio == nil:
				return models.Invalid(field, "%s is required: {\"data\": base64, \"format\": \"wav\"}", field)
			case !slices.Contains(audioFormats, strings.ToLower(p.InputAudio.Format)):
				return models.Invalid(field+".format", "%s.format must be one of %s", field, strings.Join(audioFormats, ", "))
			case len(audios) == s.cfg.AudioMaxCount:
				return models.Invalid(field, "a request may carry at most %d audio parts (AUDIO_MAX_COUNT)", s.cfg.AudioMaxCount)
			}
			if total+int64(base64.StdEncoding.DecodedLen(len(p.InputAudio.Data))) > s.cfg.AudioLimit()+2 { // before decoding
				return audioTooLarge(s.cfg.AudioLimit())
			}
			data, err := base64.StdEncoding.DecodeString(p.InputAudio.Data)
			if err != nil {
				return models.Invalid(field+".data", "%s.data is not valid base64", field)
			}
			if total += int64(len(data)); total > s.cfg.AudioLimit() {
				return audioTooLarge(s.cfg.AudioLimit())
			}
			mt, err := sniffAudio(field+".data", bytes.NewReader(data), int64(len(data)))
			if err != nil {
				return err
			}
			audios = append(audios, found{msg: i, part: j, field: field,
				audio: &audioFile{r: bytes.NewReader(data), size: int64(len(data)), mediaType: mt}})
			placeholder, _ := json.Marshal(map[string]string{"type": "text", "text": "(audio)"})
			ps[j] = placeholder
		}
		parts[i] = ps
	}
	if len(audios) == 0 {
		return nil
	}
	checked := slices.Clone(msgs)
	for i, ps := range parts {
		checked[i].Content, _ = json.Marshal(ps)
	}
	if err := check(checked); err != nil {
		return err
	}
	for _, a := range audios {
		text, err := s.spokenText(c, a.audio, "", "")
		if err != nil {
			return err
		}
		parts[a.msg][a.part], _ = json.Marshal(map[string]string{"type": "text", "text": text})
	}
	for i, ps := range parts {
		msgs[i].Content, _ = json.Marshal(ps)
	}
	return nil
}
