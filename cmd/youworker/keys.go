package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/youworker/youworker/encryption"
)

func runKeys(_ context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "generate" {
		return errors.New("usage: youworker keys generate")
	}
	k, err := encryption.GenerateKey()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, k)
	return nil
}
