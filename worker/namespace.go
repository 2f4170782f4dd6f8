package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
)

// NamespaceSetup says what PrepareNamespace did.
type NamespaceSetup struct {
	CreatedNamespace bool
	// Added lists the search attributes registered now, sorted; the others were there already.
	Added []string
}

// PrepareNamespace makes a Temporal namespace ready for YouWorker, idempotently: it registers the
// namespace with the given history retention when it does not exist (a Temporal server set up
// from its SQL schema has none; an existing one is left as it is) and then every custom search
// attribute in attrs (name → type: "Keyword", "Text", "Int", "Double", "Bool", "Datetime",
// "KeywordList") that the namespace lacks, through the operator API. An attribute that exists
// with another type is an error: workflows would be rejected with it. It retries while the server
// is still starting or a new namespace is not yet visible to every frontend, until ctx ends.
func PrepareNamespace(ctx context.Context, c client.Client, namespace string, retention time.Duration, attrs map[string]string, log *slog.Logger) (NamespaceSetup, error) {
	var setup NamespaceSetup
	want := make(map[string]enumspb.IndexedValueType, len(attrs))
	for name, typ := range attrs {
		v, ok := enumspb.IndexedValueType_shorthandValue[typ]
		if !ok || v == 0 {
			return setup, fmt.Errorf("search attribute %s: unknown type %q", name, typ)
		}
		want[name] = enumspb.IndexedValueType(v)
	}
	created, err := ensureNamespace(ctx, c, namespace, retention)
	if err != nil {
		return setup, err
	}
	setup.CreatedNamespace = created
	delay := 200 * time.Millisecond
	for {
		added, err := addMissingAttributes(ctx, c, namespace, want)
		if err == nil {
			setup.Added = added
			if !created && len(added) == 0 {
				return setup, nil
			}
			return setup, waitUsable(ctx, c, namespace, want, log)
		}
		if !retryable(err) {
			return setup, err
		}
		log.Info("temporal namespace not ready for search attributes yet", "namespace", namespace, "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return setup, fmt.Errorf("register search attributes in %s: %w", namespace, err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func ensureNamespace(ctx context.Context, c client.Client, namespace string, retention time.Duration) (bool, error) {
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err == nil {
		return false, nil
	}
	if _, ok := errors.AsType[*serviceerror.NamespaceNotFound](err); !ok {
		return false, fmt.Errorf("describe namespace %s: %w", namespace, err)
	}
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		Description:                      "YouWorker (registered by youworker migrate up)",
		WorkflowExecutionRetentionPeriod: durationpb.New(retention),
	})
	if _, ok := errors.AsType[*serviceerror.NamespaceAlreadyExists](err); ok {
		return false, nil // another migrate won the race
	}
	if err != nil {
		return false, fmt.Errorf("register namespace %s: %w", namespace, err)
	}
	return true, nil
}

// waitUsable returns once a workflow can be started in the namespace with the attributes: every
// frontend caches namespaces (and their search attribute mappings) and refreshes them every few
// seconds, so a deploy that starts its APIs right after migrate would see its first workflow
// starts refused. It starts a probe workflow that no worker runs and terminates it at once.
func waitUsable(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType, log *slog.Logger) error {
	var attrs []temporal.SearchAttributeUpdate
	for name, typ := range want {
		if typ == enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			attrs = append(attrs, temporal.NewSearchAttributeKeyKeyword(name).ValueSet("youworker-migrate-probe"))
		}
	}
	nc, err := client.NewClientFromExisting(c, client.Options{Namespace: namespace})
	if err != nil {
		return err
	}
	defer nc.Close()
	c = nc
	id := "youworker-migrate-probe/" + uuid.NewString()
	delay := 200 * time.Millisecond
	for {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: "youworker-migrate-probe", WorkflowExecutionTimeout: time.Minute,
			TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
		}, "YouWorkerMigrateProbe")
		if err == nil {
			return c.TerminateWorkflow(ctx, id, run.GetRunID(), "probe of youworker migrate up: the search attributes are usable")
		}
		log.Info("search attributes not usable by every frontend yet", "namespace", namespace, "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("search attributes in %s not usable: %w", namespace, err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// addMissingAttributes registers the attributes the namespace lacks and returns their names.
func addMissingAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) ([]string, error) {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, err
	}
	have := resp.GetCustomAttributes()
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		got, ok := have[name]
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			return nil, fmt.Errorf("search attribute %s exists in namespace %s as %s, YouWorker needs %s: remove it or use another namespace",
				name, namespace, got, typ)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	if _, ok := errors.AsType[*serviceerror.AlreadyExists](err); ok {
		return addMissingAttributes(ctx, c, namespace, want) // a concurrent migrate added some: check the types
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(missing))
	for name := range missing {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// retryable says whether a failure is the server still starting or a namespace registered a
// moment ago that this frontend does not know yet.
func retryable(err error) bool {
	if _, ok := errors.AsType[*serviceerror.NamespaceNotFound](err); ok {
		return true
	}
	if _, ok := errors.AsType[*serviceerror.Unavailable](err); ok {
		return true
	}
	if _, ok := errors.AsType[*serviceerror.DeadlineExceeded](err); ok {
		return true
	}
	_, ok := errors.AsType[*serviceerror.NotFound](err)
	return ok
}
