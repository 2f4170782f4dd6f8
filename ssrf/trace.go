package ssrf

import (
	"context"
	"errors"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/youworker/youworker/telemetry"
)

// startFetchSpan starts the client span of one Fetch, named "GET" as OpenTelemetry names an HTTP
// client span whose URL has no template. It records the host asked for and no more of the URL: a
// fetched address is what a user reads or ingests, which traces do not carry (their path and query
// may also hold tokens). No trace context is sent: the hosts fetched are anyone's, not services
// of this deployment.
func startFetchSpan(ctx context.Context, raw string) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{attribute.String("http.request.method", "GET"), attribute.String("peer.service", "fetch")}
	if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
		attrs = append(attrs, attribute.String("server.address", u.Hostname()))
	}
	return telemetry.Tracer().Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endFetchSpan ends a Fetch's span with its status and size, or with what refused or failed it
// (error.type: blocked, scheme, invalid_url, too_large, too_many_redirects, status, timeout,
// cancelled, transport). A transport failure's text is recorded without the URL that net/http
// puts in front of it.
func endFetchSpan(span trace.Span, resp *Response, err error) {
	defer span.End()
	var se *StatusError
	switch {
	case err == nil:
		span.SetAttributes(attribute.Int("http.response.status_code", resp.Status),
			attribute.Int("http.response.body.size", len(resp.Body)))
		return
	case errors.As(err, &se):
		span.SetAttributes(attribute.Int("http.response.status_code", se.Status))
	}
	kind := fetchErrorType(err)
	span.SetAttributes(attribute.String("error.type", kind))
	if kind == "transport" {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		span.SetStatus(codes.Error, err.Error())
		return
	}
	span.SetStatus(codes.Error, kind)
}

// fetchErrorType names what ended a failed Fetch.
func fetchErrorType(err error) string {
	var se *StatusError
	for _, k := range []struct {
		err  error
		name string
	}{{ErrBlocked, "blocked"}, {ErrScheme, "scheme"}, {ErrInvalidURL, "invalid_url"}, {ErrTooLarge, "too_large"},
		{ErrTooManyRedirects, "too_many_redirects"}, {context.DeadlineExceeded, "timeout"}, {context.Canceled, "cancelled"}} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	if errors.As(err, &se) {
		return "status"
	}
	return "transport"
}
