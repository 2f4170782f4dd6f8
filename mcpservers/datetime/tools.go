package datetime

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/youworker/youworker/mcpservers"
)

// maxArgLen bounds every string argument; longer values are rejected before parsing.
const maxArgLen = 200

// Named layouts accepted by time_format's layout argument (case-insensitive).
var namedLayouts = map[string]string{
	"rfc3339":  time.RFC3339,
	"rfc1123":  time.RFC1123,
	"date":     "2006-01-02",
	"time":     "15:04:05",
	"datetime": "2006-01-02 15:04:05",
	"kitchen":  time.Kitchen,
}

const timezoneDescription = `IANA time zone name such as "Europe/Berlin", "America/New_York" or "UTC".`

// readOnly marks a tool as a pure computation: no side effects, nothing outside the server, and
// an answer the server computed itself (trusted output: it cannot carry anyone's instructions).
func readOnly(idempotent bool) mcp.ToolOption {
	annotate := mcp.WithToolAnnotation(mcp.ToolAnnotation{
		ReadOnlyHint:    mcp.ToBoolPtr(true),
		DestructiveHint: mcp.ToBoolPtr(false),
		IdempotentHint:  mcp.ToBoolPtr(idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(false),
	})
	trusted := mcpservers.TrustedOutput()
	return func(t *mcp.Tool) { annotate(t); trusted(t) }
}

func timeNowTool() mcp.Tool {
	return mcp.NewTool("time_now",
		mcp.WithDescription("Returns the current date and time in a time zone as RFC 3339, with the weekday "+
			`and the zone abbreviation, e.g. "2026-11-24T22:15:00+01:00 (Tuesday, CET)". `+
			"Use it whenever the answer depends on today's date or the current time; never guess them."),
		mcp.WithString("timezone",
			mcp.Description(timezoneDescription+` Default "UTC".`),
			mcp.DefaultString("UTC"),
			mcp.MaxLength(maxArgLen),
		),
		readOnly(false),
	)
}

func timeFormatTool() mcp.Tool {
	return mcp.NewTool("time_format",
		mcp.WithDescription("Formats an RFC 3339 time, optionally converted to another time zone. "+
			`Example: time "2026-11-24T21:15:00Z", layout "datetime", timezone "Asia/Tokyo" gives "2026-11-25 06:15:00".`),
		mcp.WithString("time",
			mcp.Required(),
			mcp.Description(`The time to format, RFC 3339, e.g. "2026-11-24T21:15:00Z" or "2026-11-24T22:15:00+01:00".`),
			mcp.MaxLength(maxArgLen),
		),
		mcp.WithString("layout",
			mcp.Description(`One of "rfc3339" (2026-11-24T22:15:00+01:00), "rfc1123" (Tue, 24 Nov 2026 22:15:00 CET), `+
				`"date" (2026-11-24), "time" (22:15:00), "datetime" (2026-11-24 22:15:00), "kitchen" (10:15PM), `+
				`or a Go layout written with the reference time Mon Jan 2 15:04:05 MST 2006, e.g. "Monday, 2 January 2006". `+
				`Default "rfc3339".`),
			mcp.DefaultString("rfc3339"),
			mcp.MaxLength(maxArgLen),
		),
		mcp.WithString("timezone",
			mcp.Description(timezoneDescription+" Default: keep the time's own UTC offset."),
			mcp.MaxLength(maxArgLen),
		),
		readOnly(true),
	)
}

func timeAddDeltaTool() mcp.Tool {
	return mcp.NewTool("time_add_delta",
		mcp.WithDescription("Adds a duration to a time (or to now) and returns the result as RFC 3339 with weekday "+
			"and zone abbreviation. Use it for date arithmetic such as \"in 90 minutes\", \"3 weeks ago\" or \"next month\". "+
			"Years, months, weeks and days are calendar arithmetic on the local date (a day across a daylight-saving "+
			"change keeps the wall-clock time); hours, minutes and seconds are elapsed time. Months do not clamp to "+
			"the end of the month: 2026-01-31 plus P1M is 2026-03-03, because February 31 normalises to March 3."),
		mcp.WithString("delta",
			mcp.Required(),
			mcp.Description(`The duration to add; negative goes back in time. Either a Go duration such as "90m", `+
				`"-2h30m", "45s", or an ISO 8601 duration such as "P1D", "PT2H30M", "P2W", "P1Y2M3DT4H", "-P1M".`),
			mcp.MaxLength(maxArgLen),
		),
		mcp.WithString("time",
			mcp.Description(`The start time, RFC 3339, e.g. "2026-11-24T21:15:00Z". Default: now.`),
			mcp.MaxLength(maxArgLen),
		),
		mcp.WithString("timezone",
			mcp.Description(timezoneDescription+" The calendar arithmetic and the result use this zone. "+
				`Default: the start time's own offset, or "UTC" when the start time is now.`),
			mcp.MaxLength(maxArgLen),
		),
		readOnly(true),
	)
}

// tools holds the handlers' dependencies.
type tools struct {
	now func() time.Time
}

// stamp is the structured content of every result.
type stamp struct {
	Time     string `json:"time"`     // RFC 3339
	Timezone string `json:"timezone"` // IANA name, or the offset when the time has no named zone
	Weekday  string `json:"weekday"`
	Zone     string `json:"zone"` // abbreviation, e.g. CET
	Unix     int64  `json:"unix"`
}

func newStamp(t time.Time) stamp {
	tz := t.Location().String()
	if tz == "" {
		tz = t.Format("-07:00")
	}
	return stamp{
		Time:     t.Format(time.RFC3339),
		Timezone: tz,
		Weekday:  t.Weekday().String(),
		Zone:     zoneAbbrev(t),
		Unix:     t.Unix(),
	}
}

// zoneAbbrev is the zone abbreviation (CET), or the offset (+01:00) for a time that carries only
// an offset, as parsed from "2026-11-24T22:15:00+01:00".
func zoneAbbrev(t time.Time) string {
	if name, _ := t.Zone(); name != "" {
		return name
	}
	return t.Format("-07:00")
}

// describe renders t as "2026-11-24T22:15:00+01:00 (Tuesday, CET)".
func describe(t time.Time) string {
	return fmt.Sprintf("%s (%s, %s)", t.Format(time.RFC3339), t.Weekday(), zoneAbbrev(t))
}

func (t tools) timeNow(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	loc, err := locationArg(req, "timezone", time.UTC)
	if err != nil {
		return toolError(err), nil
	}
	now := t.now().In(loc)
	return mcp.NewToolResultStructured(newStamp(now), describe(now)), nil
}

func (t tools) timeFormat(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	when, _, err := timeArg(req, "time", true)
	if err != nil {
		return toolError(err), nil
	}
	loc, err := locationArg(req, "timezone", when.Location())
	if err != nil {
		return toolError(err), nil
	}
	layout, err := layoutArg(req, "layout")
	if err != nil {
		return toolError(err), nil
	}
	when = when.In(loc)
	formatted := when.Format(layout)
	return mcp.NewToolResultStructured(struct {
		Formatted string `json:"formatted"`
		stamp
	}{formatted, newStamp(when)}, formatted), nil
}

func (t tools) timeAddDelta(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	d, err := deltaArg(req, "delta")
	if err != nil {
		return toolError(err), nil
	}
	start, given, err := timeArg(req, "time", false)
	if err != nil {
		return toolError(err), nil
	}
	if !given {
		start = t.now().In(time.UTC)
	}
	loc, err := locationArg(req, "timezone", start.Location())
	if err != nil {
		return toolError(err), nil
	}
	result := d.addTo(start.In(loc))
	if y := result.Year(); y < 1 || y > 9999 {
		return toolError(mcpservers.ArgError("delta", "the result %d is outside the years 1 to 9999", y)), nil
	}
	return mcp.NewToolResultStructured(newStamp(result), describe(result)), nil
}

// toolError turns err into the tool error result the model reads.
func toolError(err error) *mcp.CallToolResult {
	return mcp.NewToolResultError(err.Error())
}

func stringArg(req mcp.CallToolRequest, name string, required bool) (string, error) {
	return mcpservers.StringArg(req, name, required, maxArgLen)
}

// locationArg resolves an IANA time zone; an absent argument gives def.
func locationArg(req mcp.CallToolRequest, name string, def *time.Location) (*time.Location, error) {
	s, err := stringArg(req, name, false)
	if err != nil || s == "" {
		return def, err
	}
	// "Local" would be the server's own zone, which means nothing to the user.
	if strings.EqualFold(s, "local") {
		return nil, mcpservers.ArgError(name, `unknown time zone %q; use an IANA name such as "Europe/Berlin" or "UTC"`, s)
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, mcpservers.ArgError(name, `unknown time zone %q; use an IANA name such as "Europe/Berlin" or "UTC"`, s)
	}
	return loc, nil
}

// timeArg parses an RFC 3339 time and reports whether the argument was given.
func timeArg(req mcp.CallToolRequest, name string, required bool) (time.Time, bool, error) {
	s, err := stringArg(req, name, required)
	if err != nil || s == "" {
		return time.Time{}, false, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false, mcpservers.ArgError(name, `%q is not an RFC 3339 time such as "2026-11-24T21:15:00Z"`, s)
	}
	return t, true, nil
}

// layoutArg resolves a named layout or accepts a Go layout that contains at least one time element.
func layoutArg(req mcp.CallToolRequest, name string) (string, error) {
	s, err := stringArg(req, name, false)
	if err != nil {
		return "", err
	}
	if s == "" {
		return time.RFC3339, nil
	}
	if layout, ok := namedLayouts[strings.ToLower(s)]; ok {
		return layout, nil
	}
	// A string without layout elements formats to itself for every time ("YYYY-MM-DD" stays
	// "YYYY-MM-DD"), which would silently mislead the model.
	a := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	b := time.Date(2012, 11, 24, 16, 17, 18, 190000000, time.FixedZone("XYZ", 3600))
	if a.Format(s) == b.Format(s) {
		return "", mcpservers.ArgError(name, `%q is neither one of rfc3339, rfc1123, date, time, datetime, kitchen nor a Go layout `+
			`(write the reference time Mon Jan 2 15:04:05 MST 2006 in the wanted form, e.g. "02.01.2006 15:04")`, s)
	}
	return s, nil
}

func deltaArg(req mcp.CallToolRequest, name string) (delta, error) {
	s, err := stringArg(req, name, true)
	if err != nil {
		return delta{}, err
	}
	d, err := parseDelta(s)
	if err != nil {
		return delta{}, mcpservers.ArgError(name, "%v", err)
	}
	return d, nil
}
