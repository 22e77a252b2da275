// Command testbed brings up Gantry's offline test bed: a Docker engine, local
// registries, a Dagger engine built from source, stand-in images and a Trivy
// DB. See docs/testbed.md.
//
//	go run ./testbed up|env|down|status
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gantry-ci/gantry/testbed/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
