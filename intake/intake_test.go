package intake

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
)

// Tags arrive as lists whose items may hold several, comma-separated (a form field, a JSON array,
// a tool argument): blanks go, and a request over the bounds is refused naming the field.
func TestParseTags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		raw  []string
		want []string
		bad  bool
	}{
		{"none", nil, nil, false},
		{"split and trimmed", []string{" a, b ", "c", " , "}, []string{"a", "b", "c"}, false},
		{"longest tag", []string{strings.Repeat("é", MaxTagChars)}, []string{strings.Repeat("é", MaxTagChars)}, false},
		{"tag too long", []string{strings.Repeat("t", MaxTagChars+1)}, nil, true},
		{"too many", []string{strings.Repeat("t,", MaxTags+1)}, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTags(tt.raw)
			if tt.bad {
				require.ErrorIs(t, err, models.ErrInvalid)
				require.Equal(t, "tags", fieldOf(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// Every way in (upload, text) checks the metadata before anything is stored: the zero Service has
// no store, so reaching it would panic.
func TestMetaBoundsBeforeAnythingIsStored(t *testing.T) {
	t.Parallel()
	var s Service
	c := models.Caller{UserID: uuid.New()}
	long := Meta{Title: strings.Repeat("t", MaxTitleChars+1)}
	_, _, _, err := s.Text(t.Context(), c, "some text", long)
	require.ErrorIs(t, err, models.ErrInvalid)
	require.Equal(t, "title", fieldOf(err))
	_, _, _, err = s.FromSpool(t.Context(), c, &Spool{}, Meta{Tags: make([]string, MaxTags+1)})
	require.ErrorIs(t, err, models.ErrInvalid)
	require.Equal(t, "tags", fieldOf(err))
}

func fieldOf(err error) string {
	de, _ := err.(*models.Error)
	if de == nil {
		return ""
	}
	f, _ := de.Details["field"].(string)
	return f
}
