// Package whisper is the YouWorker Whisper stand-in: an HTTP server that speaks the wire format
// of a Whisper-compatible transcription endpoint (OpenAI's POST /v1/audio/transcriptions) and
// transcribes deterministically.
//
// It is a TEST DOUBLE, not a speech recogniser. It understands only audio made by [Speak]: a
// 16 kHz mono 16-bit PCM WAV in which every byte of the UTF-8 text is two 25 ms tones, one per
// nibble, the nibble n sounding at 500 + 400·n Hz. [Transcribe] counts each frame's zero
// crossings to recover the nibbles, so the transcript comes from the samples, not from metadata.
// Every response carries the header X-Whisper-Standin: true, and [Start] logs a WARN line.
//
// # Wire format
//
// POST /v1/audio/transcriptions (also /audio/transcriptions and /inference) takes multipart
// fields file (required), model (required), response_format (json, the default; text,
// verbose_json, srt, vtt), language, prompt, temperature (0 to 1) and
// timestamp_granularities[]. It answers:
//
//   - json: {"text": "…"}; verbose_json: {"task": "transcribe", "language", "duration", "text",
//     "segments": [one segment]}; text: the text; srt and vtt: one cue over the whole audio.
//   - 400 {"error": {"message", "type": "invalid_request_error", "param", "code"}} when a field is
//     missing or malformed, the file is not a WAV, or a WAV holds no [Speak] tones.
//   - 401 when [Options].APIKey is set and the request lacks "Authorization: Bearer <key>".
//   - 413 above [Options].MaxBytes (default 25 MiB).
//
// Audio other than WAV (MP3, Ogg, …) is refused with 400: the stand-in decodes nothing else.
package whisper

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The tone code of [Speak].
const (
	SampleRate  = 16000
	frame       = SampleRate / 40 // 25 ms: 400 samples
	baseHz      = 500
	stepHz      = 400
	amplitude   = 12000
	silenceLead = frame // 25 ms of silence before the tones
)

// Speak returns a WAV whose samples encode text (see the package documentation).
func Speak(text string) []byte {
	var pcm []int16
	pcm = append(pcm, make([]int16, silenceLead)...)
	for _, b := range []byte(text) {
		for _, n := range []byte{b >> 4, b & 0x0F} {
			hz := float64(baseHz + stepHz*int(n))
			for i := range frame {
				// A quarter-period phase offset keeps samples off zero, so crossings are counted exactly.
				pcm = append(pcm, int16(amplitude*math.Sin(2*math.Pi*hz*float64(i)/SampleRate+math.Pi/4)))
			}
		}
	}
	return wav(pcm)
}

func wav(pcm []int16) []byte {
	var b bytes.Buffer
	data := len(pcm) * 2
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+data))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(SampleRate), uint32(SampleRate * 2), uint16(2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v) // format tag 1 (PCM), mono, 16 kHz, 2 bytes a frame, 16 bits
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(data))
	_ = binary.Write(&b, binary.LittleEndian, pcm)
	return b.Bytes()
}

// ErrNotSpeech is audio the stand-in cannot transcribe: not a WAV of 16 kHz mono 16-bit PCM,
// or one holding no [Speak] tones.
var ErrNotSpeech = errors.New("the audio holds no speech the stand-in understands (it transcribes only WAVs made by whisper.Speak)")

// Transcribe recovers the text of a WAV made by [Speak], and the audio's duration in seconds.
func Transcribe(data []byte) (string, float64, error) {
	pcm, err := samples(data)
	if err != nil {
		return "", 0, err
	}
	duration := float64(len(pcm)) / SampleRate
	if len(pcm) < silenceLead+2*frame || (len(pcm)-silenceLead)%(2*frame) != 0 {
		return "", duration, ErrNotSpeech
	}
	var out []byte
	for at := silenceLead; at < len(pcm); at += 2 * frame {
		hi, ok1 := nibble(pcm[at : at+frame])
		lo, ok2 := nibble(pcm[at+frame : at+2*frame])
		if !ok1 || !ok2 {
			return "", duration, ErrNotSpeech
		}
		out = append(out, hi<<4|lo)
	}
	if !utf8.Valid(out) {
		return "", duration, ErrNotSpeech
	}
	return string(out), duration, nil
}

// nibble reads one frame's tone: a sine of f Hz crosses zero 2·f·0.025 = f/20 times in 25 ms.
func nibble(f []int16) (byte, bool) {
	crossings := 0
	for i := 1; i < len(f); i++ {
		if (f[i-1] < 0) != (f[i] < 0) {
			crossings++
		}
	}
	hz := float64(crossings) * 20
	n := math.Round((hz - baseHz) / stepHz)
	if n < 0 || n > 15 || math.Abs(hz-(baseHz+stepHz*n)) > stepHz/4 {
		return 0, false
	}
	return byte(n), true
}

// samples reads the PCM samples of a 16 kHz mono 16-bit WAV.
func samples(data []byte) ([]int16, error) {
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, ErrNotSpeech
	}
	var fmtOK bool
	for at := 12; at+8 <= len(data); {
		id, size := string(data[at:at+4]), int(binary.LittleEndian.Uint32(data[at+4:]))
		body := data[at+8:]
		if size > len(body) {
			size = len(body)
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, ErrNotSpeech
			}
			format, channels := binary.LittleEndian.Uint16(body), binary.LittleEndian.Uint16(body[2:])
			rate, bits := binary.LittleEndian.Uint32(body[4:]), binary.LittleEndian.Uint16(body[14:])
			fmtOK = format == 1 && channels == 1 && rate == SampleRate && bits == 16
		case "data":
			if !fmtOK {
				return nil, ErrNotSpeech
			}
			pcm := make([]int16, size/2)
			_ = binary.Read(bytes.NewReader(body[:size/2*2]), binary.LittleEndian, pcm)
			return pcm, nil
		}
		at += 8 + size + size%2
	}
	return nil, ErrNotSpeech
}

// Options configure the stand-in.
type Options struct {
	APIKey   string // required as a bearer token when set
	MaxBytes int64  // largest file, default 25 MiB
	Logger   *slog.Logger
}

// Server is the stand-in's HTTP handler.
type Server struct {
	opts Options
	mux  *http.ServeMux
}

// New returns the stand-in's handler.
func New(opts Options) *Server {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 25 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, mux: http.NewServeMux()}
	for _, p := range []string{"/v1/audio/transcriptions", "/audio/transcriptions", "/inference"} {
		s.mux.HandleFunc("POST "+p, s.transcribe)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "", "no route "+r.Method+" "+r.URL.Path+" (YouWorker Whisper stand-in, a test double)")
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Whisper-Standin", "true")
	s.mux.ServeHTTP(w, r)
}

// Start serves the stand-in on addr ("127.0.0.1:0" for any port) until stop is called, logging
// a WARN line that it is a test double. It returns the transcription endpoint's URL.
func Start(opts Options, addr string) (endpoint string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	s := New(opts)
	srv := &http.Server{Handler: s}
	go func() { _ = srv.Serve(ln) }()
	endpoint = "http://" + ln.Addr().String() + "/v1/audio/transcriptions"
	s.opts.Logger.Warn("serving the Whisper STAND-IN, a test double that transcribes only whisper.Speak audio; not a speech recogniser", "url", endpoint)
	return endpoint, func() { _ = srv.Shutdown(context.Background()) }, nil
}

// ListenAndServe serves the stand-in on addr until ctx ends.
func ListenAndServe(ctx context.Context, opts Options, addr string) error {
	_, stop, err := Start(opts, addr)
	if err != nil {
		return err
	}
	<-ctx.Done()
	stop()
	return nil
}

func fail(w http.ResponseWriter, status int, param, msg string) {
	typ := "invalid_request_error"
	if status == http.StatusUnauthorized {
		typ = "authentication_error"
	}
	var p any
	if param != "" {
		p = param
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": p, "code": nil}})
}

func (s *Server) transcribe(w http.ResponseWriter, r *http.Request) {
	if s.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
		fail(w, http.StatusUnauthorized, "", "Incorrect API key provided.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBytes+64<<10)
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(w, http.StatusRequestEntityTooLarge, "file", fmt.Sprintf("Maximum content size limit (%d) exceeded.", s.opts.MaxBytes))
			return
		}
		fail(w, http.StatusBadRequest, "", "Could not parse multipart form: "+err.Error())
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	file, _, err := r.FormFile("file")
	if err != nil {
		fail(w, http.StatusBadRequest, "file", "you must provide a file")
		return
	}
	data, _ := io.ReadAll(io.LimitReader(file, s.opts.MaxBytes+1))
	_ = file.Close()
	if int64(len(data)) > s.opts.MaxBytes {
		fail(w, http.StatusRequestEntityTooLarge, "file", fmt.Sprintf("Maximum content size limit (%d) exceeded.", s.opts.MaxBytes))
		return
	}
	if r.FormValue("model") == "" {
		fail(w, http.StatusBadRequest, "model", "you must provide a model parameter")
		return
	}
	if t := r.FormValue("temperature"); t != "" {
		if v, err := strconv.ParseFloat(t, 64); err != nil || v < 0 || v > 1 {
			fail(w, http.StatusBadRequest, "temperature", "temperature must be a number between 0 and 1")
			return
		}
	}
	format := r.FormValue("response_format")
	if format == "" {
		format = "json"
	}
	if !slices.Contains([]string{"json", "text", "verbose_json", "srt", "vtt"}, format) {
		fail(w, http.StatusBadRequest, "response_format", "response_format must be json, text, verbose_json, srt or vtt")
		return
	}
	text, duration, err := Transcribe(data)
	if err != nil {
		fail(w, http.StatusBadRequest, "file", "Invalid file format. "+err.Error())
		return
	}
	s.opts.Logger.Info("whisper stand-in transcribed", "bytes", len(data), "chars", len(text))
	language := r.FormValue("language")
	if language == "" {
		language = "english"
	}
	switch format {
	case "json":
		writeJSON(w, map[string]any{"text": text})
	case "verbose_json":
		writeJSON(w, map[string]any{"task": "transcribe", "language": language, "duration": duration, "text": text,
			"segments": []any{map[string]any{"id": 0, "seek": 0, "start": 0.0, "end": duration, "text": text, "tokens": []int{},
				"temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0, "no_speech_prob": 0.0}}})
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, text+"\n")
	case "srt":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintf(w, "1\n00:00:00,000 --> %s\n%s\n\n", stamp(duration, ","), text)
	case "vtt":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintf(w, "WEBVTT\n\n00:00:00.000 --> %s\n%s\n\n", stamp(duration, "."), text)
	}
}

func stamp(sec float64, sep string) string {
	ms := int(math.Round(sec * 1000))
	return fmt.Sprintf("%02d:%02d:%02d%s%03d", ms/3600000, ms/60000%60, ms/1000%60, sep, ms%1000)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
