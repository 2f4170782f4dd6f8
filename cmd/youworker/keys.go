package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/workflows"
)

const keysUsage = "usage: youworker keys generate | youworker keys rotate [--no-wait] [--batch N]"

func runKeys(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	switch args[0] {
	case "generate":
		k, err := encryption.GenerateKey()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, k)
		return nil
	case "rotate":
		return rotateKeys(ctx, args[1:], stdout)
	}
	return errors.New(keysUsage)
}

// rotateKeys starts (or joins) the RotateKeys workflow, which re-encrypts every sealed value with
// the first of FERNET_KEYS, bound to its row (legacy unbound values included), and follows its
// progress. Rotation: put the new key first in FERNET_KEYS (keep the old ones after it), roll out
// the worker and API, run this, then drop the old keys.
func rotateKeys(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	noWait := fs.Bool("no-wait", false, "start the rotation and return")
	batch := fs.Int("batch", 500, "rows per batch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, log, err := loadConfig()
	if err != nil {
		return err
	}
	tc, err := client.DialContext(ctx, temporalOptions(cfg, log, nil))
	if err != nil {
		return fmt.Errorf("connect to temporal: %w", err)
	}
	defer tc.Close()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.RekeyWorkflowID, TaskQueue: cfg.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.RotateKeys, workflows.RekeyState{Tables: store.RekeyTables(), Batch: *batch})
	if err != nil {
		return fmt.Errorf("start the rotation: %w", err)
	}
	fmt.Fprintf(stdout, "key rotation running: workflow %s (see it in the Temporal UI)\n", run.GetID())
	if *noWait {
		return nil
	}
	done := make(chan error, 1)
	var final workflows.RekeyState
	go func() { done <- tc.GetWorkflow(ctx, run.GetID(), "").Get(ctx, &final) }()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("rotation failed: %w", err)
			}
			fmt.Fprintf(stdout, "done: %d values checked, %d re-encrypted with the current key; older keys can be removed from FERNET_KEYS\n",
				final.Scanned, final.Rewritten)
			return nil
		case <-tick.C:
			if v, err := tc.QueryWorkflow(ctx, run.GetID(), "", workflows.QueryProgress); err == nil {
				var st workflows.RekeyState
				if v.Get(&st) == nil && st.Table < len(st.Tables) {
					fmt.Fprintf(stdout, "  %s: %d checked, %d re-encrypted so far\n", st.Tables[st.Table], st.Scanned, st.Rewritten)
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
