package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/worker"
)

const deploymentUsage = "usage: youworker deployment status | set-current BUILD_ID"

// runDeployment shows or changes which build of the worker deployment (WORKER_DEPLOYMENT_NAME)
// gets new turns and ingestions. Running ones stay on the build they started on.
func runDeployment(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := config.FromEnvUnchecked()
	if err != nil {
		return err
	}
	if cfg.WorkerDeployment == "" {
		return errors.New("config: WORKER_DEPLOYMENT_NAME: is required (the workers run unversioned without it)")
	}
	if len(args) == 0 || (args[0] == "status" && len(args) != 1) || (args[0] == "set-current" && len(args) != 2) {
		return errors.New(deploymentUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := dialTemporal(ctx, cfg, cfg.Logger(os.Stderr), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	switch args[0] {
	case "status":
		build, exists, err := worker.CurrentBuild(ctx, c, cfg.WorkerDeployment)
		switch {
		case err != nil:
			return err
		case !exists:
			fmt.Fprintf(stdout, "worker deployment %s: no worker has polled yet\n", cfg.WorkerDeployment)
		case build == "":
			fmt.Fprintf(stdout, "worker deployment %s: no current build (new workflows go to unversioned workers)\n", cfg.WorkerDeployment)
		default:
			fmt.Fprintf(stdout, "worker deployment %s: current build %s\n", cfg.WorkerDeployment, build)
		}
	case "set-current":
		if err := worker.SetCurrentBuild(ctx, c, cfg.WorkerDeployment, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "worker deployment %s: current build %s (running turns and ingestions stay on their build)\n", cfg.WorkerDeployment, args[1])
	default:
		return errors.New(deploymentUsage)
	}
	return nil
}
