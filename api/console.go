package api

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/youworker/youworker/console"
	"github.com/youworker/youworker/models"
)

// consolePath is where the browser console is served; "/" redirects there.
const consolePath = "/console/"

// consoleHome sends browsers that open the API's address to the console.
func (s *Server) consoleHome(c *gin.Context) {
	c.Redirect(http.StatusFound, consolePath)
}

// consoleFile serves the console's embedded files under its own Content-Security-Policy, which
// replaces the API's (default-src 'none') on these routes only: scripts, styles and connections
// from this origin, nothing inline (docs/security.md).
func (s *Server) consoleFile(c *gin.Context) {
	c.Header("Content-Security-Policy", console.CSP)
	name := strings.TrimPrefix(c.Param("path"), "/")
	f, ok := console.Open(name)
	if !ok {
		s.fail(c, models.Errorf(models.ErrNotFound, "ROUTE_NOT_FOUND", "no console file %q", name))
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", f.ContentType)
	h.Set("ETag", f.ETag)
	h.Set("Cache-Control", "no-cache") // revalidated (304 by ETag), so a new release is seen at once
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(f.Body))
}
