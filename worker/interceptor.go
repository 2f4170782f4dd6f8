package worker

import (
	"context"
	"log/slog"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// failureLogger logs every failed activity attempt, local activities included (the SDK reports
// failed local activity attempts only at debug level, which hides a retry loop from operators).
type failureLogger struct {
	interceptor.WorkerInterceptorBase
	log *slog.Logger
}

func (f *failureLogger) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &activityFailureLogger{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, log: f.log}
}

type activityFailureLogger struct {
	interceptor.ActivityInboundInterceptorBase
	log *slog.Logger
}

func (a *activityFailureLogger) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := a.Next.ExecuteActivity(ctx, in)
	if err != nil && ctx.Err() == nil {
		info := activity.GetInfo(ctx)
		a.log.WarnContext(ctx, "activity attempt failed", "activity", info.ActivityType.Name, "local", info.IsLocalActivity,
			"attempt", info.Attempt, "workflow_id", info.WorkflowExecution.ID, "error", err)
	}
	return res, err
}
