package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
)

// CurrentBuild returns the build id of the deployment's current version ("" when new workflows
// go to unversioned workers) and whether the deployment exists yet (it does once one of its
// workers has polled).
func CurrentBuild(ctx context.Context, c client.Client, deployment string) (build string, exists bool, err error) {
	desc, err := c.WorkerDeploymentClient().GetHandle(deployment).Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	if err != nil {
		if retryable(err) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("describe worker deployment %s: %w", deployment, err)
	}
	if v := desc.Info.RoutingConfig.CurrentVersion; v != nil {
		return v.BuildID, true, nil
	}
	return "", true, nil
}

// SetCurrentBuild routes new turns and ingestions (and the unpinned workflows' next tasks) to the
// deployment's build; turns and ingestions already running stay on the build they started on.
// The build's workers must have polled (be registered) first.
func SetCurrentBuild(ctx context.Context, c client.Client, deployment, build string) error {
	_, err := c.WorkerDeploymentClient().GetHandle(deployment).SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: build})
	if err != nil {
		return fmt.Errorf("set the current build of worker deployment %s to %s: %w", deployment, build, err)
	}
	return nil
}

// PromoteIfFirst makes d's build the current one when its deployment has no current version yet
// (the first rollout: nothing else would run new workflows), retrying until the build is
// registered or ctx ends. A deployment with a current build is left alone: promoting a new build
// is the operator's step (`youworker deployment set-current`). It reports whether it promoted.
func PromoteIfFirst(ctx context.Context, c client.Client, d Deployment, log *slog.Logger) (bool, error) {
	for delay := 200 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		current, _, err := CurrentBuild(ctx, c, d.Name)
		if err != nil {
			return false, err
		}
		if current != "" {
			return false, nil
		}
		err = SetCurrentBuild(ctx, c, d.Name, d.BuildID)
		if err == nil {
			return true, nil
		}
		log.Info("worker deployment not ready to promote yet", "deployment", d.Name, "build_id", d.BuildID, "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(delay):
		}
	}
}
