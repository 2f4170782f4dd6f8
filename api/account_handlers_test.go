package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/account"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// fakeAccount stands in for account.Exporter and account.Closer: the handlers' own behaviour,
// without Temporal or the export's reads.
type fakeAccount struct {
	exported, closed []models.Caller
	users            []*models.User
	body             string
	err              error
}

func (f *fakeAccount) Write(_ context.Context, c models.Caller, u *models.User, w io.Writer, _ account.Shapes) error {
	f.exported, f.users = append(f.exported, c), append(f.users, u)
	_, _ = io.WriteString(w, f.body)
	return f.err
}

func (f *fakeAccount) Close(_ context.Context, c models.Caller) (string, error) {
	f.closed = append(f.closed, c)
	if f.err != nil {
		return "", f.err
	}
	return "delete-account/" + c.UserID.String(), nil
}

// GET /v1/account/export is a download of what the exporter writes for the caller, never cached;
// an error midway is logged (the status is sent by then) and the body is what was written.
func TestExportHandler(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	cl, login := e.signup("vera")
	uid := login["user"].(map[string]any)["id"].(string)
	f := &fakeAccount{body: `{"user":{}}`}
	e.srv.exporter = f

	r := cl.do("GET", "/v1/account/export", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, `{"user":{}}`, string(r.Body))
	require.Equal(t, fmt.Sprintf(`attachment; filename="youworker-export-%s.json"`, uid), r.Header.Get("Content-Disposition"))
	require.Equal(t, "no-store", r.Header.Get("Cache-Control"))
	require.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"))
	require.Len(t, f.exported, 1)
	require.Equal(t, uid, f.exported[0].UserID.String())
	require.Equal(t, uid, f.users[0].ID.String(), "the exporter gets the caller's own user row")

	f.body, f.err = `{"user":{},"error":{"code":"EXPORT_INCOMPLETE"}}`, errors.New("connection reset")
	r = cl.do("GET", "/v1/account/export", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Contains(t, string(r.Body), "EXPORT_INCOMPLETE")
	require.Contains(t, e.logs.String(), "account export failed midway")

	r = e.client().do("GET", "/v1/account/export", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Len(t, f.exported, 2, "an anonymous request never reaches the exporter")
}

// DELETE /v1/account starts the deletion for the caller and answers 202 with the workflow to
// follow, audited (the request succeeded; the workflow audits `account.deleted` when done) and with the login cookies cleared; a deletion that cannot start answers the
// error and leaves the login as it was.
func TestDeleteAccountHandler(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	cl, login := e.signup("walt")
	uid := login["user"].(map[string]any)["id"].(string)
	f := &fakeAccount{err: models.Errorf(models.ErrUnavailable, "TEMPORAL_UNAVAILABLE", "the workflow service is unavailable")}
	e.srv.closer = f

	r := cl.do("DELETE", "/v1/account", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	require.Equal(t, "TEMPORAL_UNAVAILABLE", r.errCode(t))
	require.Empty(t, r.Header.Values("Set-Cookie"), "a failed start keeps the login")
	require.Equal(t, http.StatusOK, cl.do("GET", "/v1/auth/me", nil).Status)

	f.err = nil
	r = cl.do("DELETE", "/v1/account", nil)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	body := r.JSON(t)
	require.Equal(t, "deleting", body["status"])
	require.Equal(t, "delete-account/"+uid, body["workflow_id"])
	require.Len(t, f.closed, 2)
	require.Equal(t, uid, f.closed[1].UserID.String())
	require.Equal(t, "walt", f.closed[1].Username)
	var cleared []string
	for _, c := range r.Header.Values("Set-Cookie") {
		if strings.Contains(c, "Max-Age=0") || strings.Contains(c, "Expires=Thu, 01 Jan 1970") {
			cleared = append(cleared, c)
		}
	}
	require.NotEmpty(t, cleared, "the login cookies are cleared: %v", r.Header.Values("Set-Cookie"))

	entries, err := e.store.AccountAudit(context.Background(), f.closed[1], store.AuditPage{Limit: 10})
	require.NoError(t, err)
	var actions []string
	for _, a := range entries {
		actions = append(actions, a.Action+"/"+a.Outcome)
	}
	require.Contains(t, actions, "account.delete/success", "%s", e.logs.String())
}
