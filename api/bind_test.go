package api

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/youworker/youworker/models"
)

// FuzzBindJSON feeds arbitrary bodies to the strict decoder: it must never panic and every
// failure must be a client error (400 or 413), never an internal one.
func FuzzBindJSON(f *testing.F) {
	for _, seed := range []string{
		`{"username":"a","password":"b"}`, `{"username":1}`, `{"x":{}}`, `[]`, `nul`, `{"email":null}`,
		`{"username":"aaa","password":"bbbbbbbb"}{}`, "\xff\xfe", `{"expires_at":"not a time"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, dst := range []any{&registerRequest{}, &createAPIKeyRequest{}} {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			c.Request.Body = http.MaxBytesReader(w, c.Request.Body, 1024)
			err := bindJSON(c, dst)
			if err == nil {
				continue
			}
			var de *models.Error
			if !errors.As(err, &de) || !(errors.Is(err, models.ErrInvalid) || errors.Is(err, models.ErrTooLarge)) {
				t.Fatalf("body %q: error %v is not a client error", body, err)
			}
		}
	})
}
