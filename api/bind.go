package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"
	"github.com/go-playground/validator/v10"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func init() {
	gin.SetMode(gin.ReleaseMode)
	// Validation errors name the JSON field, not the Go field.
	if v, ok := binding.Validator.Engine().(*validator.Validate); ok {
		_ = v.RegisterValidation("username", func(fl validator.FieldLevel) bool {
			return usernamePattern.MatchString(fl.Field().String())
		})
		v.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				return ""
			}
			return name
		})
	}
}

// bindJSON decodes the body strictly into dst (unknown fields, wrong types, trailing data and
// oversized bodies are errors naming the field) and validates its `binding` tags.
func bindJSON(c *gin.Context, dst any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return models.Errorf(models.ErrUnsupported, "UNSUPPORTED_MEDIA_TYPE", "request body must be application/json")
		}
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err)
		}
		return models.Errorf(models.ErrInvalid, "MALFORMED_JSON", "request body must hold a single JSON object")
	}
	if err := binding.Validator.ValidateStruct(dst); err != nil {
		return validationError(err)
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooLarge):
		return models.Errorf(models.ErrTooLarge, "REQUEST_TOO_LARGE", "request body exceeds %d bytes", tooLarge.Limit).
			WithDetails(map[string]any{"limit_bytes": tooLarge.Limit})
	case errors.Is(err, io.EOF):
		return models.Errorf(models.ErrInvalid, "MALFORMED_JSON", "request body is empty; a JSON object is required")
	case errors.As(err, &syntax):
		return models.Errorf(models.ErrInvalid, "MALFORMED_JSON", "malformed JSON at byte %d", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return models.Errorf(models.ErrInvalid, "MALFORMED_JSON", "malformed JSON: unexpected end of body")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return models.Errorf(models.ErrInvalid, "MALFORMED_JSON", "request body must be a JSON object")
		}
		return models.Invalid(typ.Field, "%s must be %s", typ.Field, jsonKind(typ.Type))
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, _ = strconv.Unquote(field)
		return models.Invalid(field, "unknown field %q", field)
	}
	return models.Errorf(models.ErrInvalid, "MALFORMED_JSON", "malformed JSON")
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		if t.String() == "time.Time" {
			return "an RFC 3339 time"
		}
		return "an object"
	}
	return "of type " + t.String()
}

func validationError(err error) error {
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) || len(verrs) == 0 {
		return models.Errorf(models.ErrInvalid, "VALIDATION_ERROR", "invalid request")
	}
	fe := verrs[0]
	field := fe.Field()
	// Nested fields come as Struct.field; keep the JSON path below the root.
	if ns := fe.Namespace(); strings.Contains(ns, ".") {
		field = ns[strings.Index(ns, ".")+1:]
	}
	var msg string
	switch fe.Tag() {
	case "required":
		msg = field + " is required"
	case "min":
		msg = fmt.Sprintf("%s must be at least %s %s", field, fe.Param(), unitOf(fe))
	case "max":
		msg = fmt.Sprintf("%s must be at most %s %s", field, fe.Param(), unitOf(fe))
	case "oneof":
		msg = fmt.Sprintf("%s must be one of: %s", field, strings.ReplaceAll(fe.Param(), " ", ", "))
	case "username":
		msg = field + " may contain only letters, digits, '.', '_' and '-', starting with a letter or digit"
	case "email":
		msg = field + " must be an email address"
	case "uuid":
		msg = field + " must be a UUID"
	case "url", "http_url":
		msg = field + " must be an http(s) URL"
	default:
		msg = fmt.Sprintf("%s is invalid (%s)", field, fe.Tag())
	}
	return models.Invalid(field, "%s", msg)
}

func unitOf(fe validator.FieldError) string {
	switch fe.Kind() {
	case reflect.String:
		return "characters"
	case reflect.Slice, reflect.Map, reflect.Array:
		return "items"
	}
	return ""
}

// limitOf reads ?limit=: 1 to 200, 50 when absent.
func limitOf(c *gin.Context) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 200 {
		return 0, models.Invalid("limit", "limit must be an integer between 1 and 200")
	}
	return n, nil
}

// pageOf reads ?limit= (see limitOf) and ?cursor=.
func pageOf(c *gin.Context) (store.Page, error) {
	limit, err := limitOf(c)
	if err != nil {
		return store.Page{}, err
	}
	p := store.Page{Limit: limit}
	if v := c.Query("cursor"); v != "" {
		cur, err := store.DecodeCursor(v)
		if err != nil {
			return p, err
		}
		p.After = cur
	}
	return p, nil
}

// list is the response shape of every list endpoint.
type list[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func newList[T any](items []T, next *store.Cursor) list[T] {
	l := list[T]{Items: items}
	if l.Items == nil {
		l.Items = []T{}
	}
	if next != nil {
		s := next.Encode()
		l.NextCursor = &s
	}
	return l
}
