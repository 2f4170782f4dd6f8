// Command youworker-extract parses one document in a process of its own and prints it as JSON:
// the worker's extraction sandbox, run under the EXTRACT_* limits through prlimit. It is
// `youworker extract-file` in a binary that links only the parsers, so that it starts in a few
// milliseconds instead of the ~0.2 s of CPU the full binary's package initialisation costs (which
// every ingested text, Markdown, HTML, CSV, JSON or DOCX document pays).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/youworker/youworker/extract"
)

func main() {
	if err := extract.RunChild(context.Background(), os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "youworker-extract:", err)
		}
		os.Exit(1)
	}
}
