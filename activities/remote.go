package activities

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
)

// RemotePrefix marks a tool's server as a registered (third-party) one: "reg:<server id>".
const RemotePrefix = "reg:"

// Remote reaches the MCP servers users registered: always through the SSRF guard's HTTP client,
// checked against the caller's current rights at every use, and only with approved tool
// descriptions.
type Remote struct {
	Store      *store.Store
	HTTPClient *http.Client // the SSRF guard's client
	TTL        time.Duration
	MaxResult  int
	// Limits bound a server's tools: the tools beyond MaxTools, and any over a size limit, are not
	// offered (registration refuses a server over them; this catches servers that grew since).
	Limits toolbox.Limits
	Logger *slog.Logger // nil: slog.Default()

	mu   sync.Mutex
	cats map[uuid.UUID]remoteCatalog
}

type remoteCatalog struct {
	url string
	cat *toolbox.Catalog
}

func (r *Remote) catalog(srv *models.MCPServer) *toolbox.Catalog {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cats == nil {
		r.cats = map[uuid.UUID]remoteCatalog{}
	}
	if rc, ok := r.cats[srv.ID]; ok && rc.url == srv.URL {
		return rc.cat
	} else if ok {
		_ = rc.cat.Close()
	}
	cat := toolbox.NewCatalog([]toolbox.Server{{ID: srv.ID.String(), Name: srv.Name, URL: srv.URL,
		Timeout: time.Duration(srv.TimeoutMS) * time.Millisecond, RequiresApproval: srv.RequiresApproval}},
		toolbox.Options{TTL: r.TTL, HTTPClient: r.HTTPClient, MaxResultBytes: r.MaxResult})
	r.cats[srv.ID] = remoteCatalog{url: srv.URL, cat: cat}
	return cat
}

// Tools lists the approved tools of every registered server the caller may use, under their
// exposed names. A tool whose description changed since it was approved (or that appeared since)
// is left out and recorded as pending for its owner; its exposed name is returned in unavailable.
func (r *Remote) Tools(ctx context.Context, c models.Caller) (tools []toolbox.Tool, unavailable []string, err error) {
	servers, err := r.Store.MCPServers(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	for i := range servers {
		srv := &servers[i]
		if !srv.Enabled {
			continue
		}
		listed, lerr := r.catalog(srv).Tools(ctx)
		if lerr != nil {
			continue // an unreachable server's tools are just not offered this turn
		}
		approvals := store.ToolApprovals(srv)
		changed := map[string]models.ToolApproval{}
		for i, t := range listed {
			exposed := srv.Name + toolbox.Separator + t.Name
			if lerr := r.Limits.Fit(t); lerr != nil || (r.Limits.MaxTools > 0 && i >= r.Limits.MaxTools) {
				r.logger().WarnContext(ctx, "registered MCP tool not offered: over the limits", "server_id", srv.ID, "tool", t.Name, "error", lerr)
				unavailable = append(unavailable, exposed)
				continue
			}
			hash := toolbox.DescriptionHash(t)
			a, known := approvals[t.Name]
			if !known || a.ApprovedSHA256 != hash {
				if a.PendingSHA256 != hash {
					a.PendingSHA256, a.PendingText = hash, t.Description
					changed[t.Name] = a
				}
				unavailable = append(unavailable, exposed)
				continue
			}
			t.Server, t.Name = RemotePrefix+srv.ID.String(), exposed
			t.RequiresApproval = t.RequiresApproval || srv.RequiresApproval
			tools = append(tools, t)
		}
		if err := r.Store.NoteToolChanges(ctx, srv.ID, changed); err != nil {
			return nil, nil, err
		}
	}
	return tools, unavailable, nil
}

// Call runs a registered server's tool for a user who may still use the server now.
func (r *Remote) Call(ctx context.Context, c models.Caller, server, exposed string, args map[string]any) (toolbox.Result, error) {
	id, err := uuid.Parse(strings.TrimPrefix(server, RemotePrefix))
	if err != nil {
		return toolbox.Result{}, errors.New("malformed server reference")
	}
	srv, err := r.Store.UsableMCPServer(ctx, c, id)
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return toolbox.Result{IsError: true, Text: "this tool server is no longer available to you"}, nil
		}
		return toolbox.Result{}, err
	}
	tool := strings.TrimPrefix(exposed, srv.Name+toolbox.Separator)
	return r.catalog(srv).Call(ctx, srv.Name, tool, args, toolbox.Identity{})
}

func (r *Remote) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

// Close closes the cached connections.
func (r *Remote) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rc := range r.cats {
		_ = rc.cat.Close()
	}
}
