// Command gantry-publish pushes an OCI image archive to a registry as one
// transaction (see package push). The pipeline runs it inside a container so
// the registry token reaches it only as a Dagger secret, in
// $GANTRY_REGISTRY_TOKEN. It prints the result as JSON on stdout.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/pflag"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
	"github.com/gantry-ci/gantry/ci/internal/push"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gantry-publish:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("gantry-publish", pflag.ContinueOnError)
	archive := fs.String("archive", "", "OCI image layout tar to publish")
	repository := fs.String("repository", "", "registry/name to publish to")
	tags := fs.StringSlice("tag", nil, "tags to point at the image, in order")
	healthcheck := fs.String("healthcheck", "", "Docker healthcheck to set, as JSON")
	insecure := fs.Bool("insecure", false, "talk plain HTTP to the registry")
	username := fs.String("username", "", "registry user name; the token comes from $GANTRY_REGISTRY_TOKEN")
	revisionOf := fs.String("revision-of", "", "print the commit TAG was built from, as JSON, and publish nothing")
	// Inside the pipeline's own 10-minute bound, with time left to roll back.
	timeout := fs.Duration("timeout", 8*time.Minute, "deadline for the whole publish (a rollback gets 30 s more)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token := os.Getenv("GANTRY_REGISTRY_TOKEN")
	auth := authn.Anonymous
	if *username != "" || token != "" {
		auth = &authn.Basic{Username: *username, Password: token}
	}
	if *revisionOf != "" {
		rev, err := push.Revision(ctx, push.Request{Repository: *repository, Insecure: *insecure, Auth: auth}, *revisionOf)
		if err != nil {
			return redacted(err, token)
		}
		return json.NewEncoder(os.Stdout).Encode(map[string]string{"revision": rev})
	}

	var hc *dockerfile.Healthcheck
	if *healthcheck != "" {
		hc = &dockerfile.Healthcheck{}
		if err := json.Unmarshal([]byte(*healthcheck), hc); err != nil {
			return fmt.Errorf("parsing --healthcheck: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "gantry-publish-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, err := push.LoadOCIArchive(*archive, dir)
	if err != nil {
		return err
	}
	if a, err = push.WithHealthcheck(a, hc); err != nil {
		return fmt.Errorf("setting healthcheck: %w", err)
	}
	req := push.Request{Repository: *repository, Tags: *tags, Insecure: *insecure, Log: os.Stderr, Auth: auth}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := push.Publish(ctx, req, a)
	if err != nil {
		return redacted(err, token)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// redacted keeps the token out of err: registries sometimes echo what they
// were sent.
func redacted(err error, token string) error {
	if token == "" {
		return err
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), token, "***"))
}
