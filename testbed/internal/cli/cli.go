// Package cli is the command line of the test bed: `testbed up|env|down|status|peer`.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gantry-ci/gantry/testbed/internal/bed"
)

// CacheEnv names the environment variable that sets --cache-dir.
const CacheEnv = "GANTRY_TESTBED_CACHE"

// Commands are the subcommands.
var Commands = []string{"up", "env", "down", "status", "peer"}

const usage = `usage: testbed <up|env|down|status|peer> [flags]

  up       bring the offline test bed up (idempotent) and print the env exports
  env      print the env exports of a bed that is up
  down     stop and remove what the bed started (--purge: and its cache)
  status   show what is up, versions and cache sizes
  peer     on a bed that is up, build the peer stack bench/peer.sh measures
           Gantry against (buildx, BuildKit's image) and print its exports

flags:
`

// Options are the command line's settings.
type Options struct {
	Command  string
	CacheDir string
	Purge    bool
	Help     bool
}

// DefaultCacheDir is the cache directory when neither --cache-dir nor
// GANTRY_TESTBED_CACHE says otherwise.
func DefaultCacheDir() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "gantry-testbed")
}

// AddFlags binds the options to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.CacheDir, "cache-dir", DefaultCacheDir(),
		"cache for built binaries, root file systems, logs and the bed's state (env "+CacheEnv+")")
	fs.BoolVar(&o.Purge, "purge", false, "down: also remove the bed's images from Docker and delete the cache")
	fs.BoolVarP(&o.Help, "help", "h", false, "show this help")
}

// Validate checks the options and makes the cache dir absolute.
func (o *Options) Validate() error {
	known := false
	for _, c := range Commands {
		known = known || o.Command == c
	}
	switch {
	case o.Command == "":
		return errors.New("missing command: one of " + strings.Join(Commands, ", "))
	case !known:
		return fmt.Errorf("unknown command %q: one of %s", o.Command, strings.Join(Commands, ", "))
	case o.CacheDir == "":
		return errors.New("--cache-dir is empty")
	case o.Purge && o.Command != "down":
		return fmt.Errorf("--purge only applies to down, not %s", o.Command)
	}
	abs, err := filepath.Abs(o.CacheDir)
	if err != nil {
		return fmt.Errorf("--cache-dir: %w", err)
	}
	o.CacheDir = abs
	return nil
}

// Parse reads args (without the program name) into Options.
func Parse(args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := pflag.NewFlagSet("testbed", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.Help {
		fmt.Fprint(stderr, usage+fs.FlagUsages())
		return o, nil
	}
	if fs.NArg() > 1 {
		return o, fmt.Errorf("one command expected, got %q", fs.Args())
	}
	o.Command = fs.Arg(0)
	return o, o.Validate()
}

// Exit codes.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

// Run runs the command line and returns the exit code. Progress goes to
// stderr; the env exports, the command's result, to stdout.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := Parse(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "testbed: %v (see testbed --help)\n", err)
		return ExitUsage
	}
	if o.Help {
		return ExitOK
	}
	b := bed.New(o.CacheDir, stderr)
	switch o.Command {
	case "up":
		env, err := b.Up(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "testbed up failed: %v\n", err)
			return ExitFail
		}
		fmt.Fprintf(stderr, "env file: %s (source it)\n", b.EnvFile())
		fmt.Fprint(stdout, env.Render())
	case "env":
		env, err := b.Env(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "testbed env: the test bed is not up: %v; run `go run ./testbed up`\n", err)
			return ExitFail
		}
		fmt.Fprint(stdout, env.Render())
	case "down":
		if err := b.Down(ctx, o.Purge); err != nil {
			fmt.Fprintf(stderr, "testbed down failed: %v\n", err)
			return ExitFail
		}
	case "status":
		if !b.Status(ctx, stdout) {
			return ExitFail
		}
	case "peer":
		env, err := b.Peer(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "testbed peer failed: %v\n", err)
			return ExitFail
		}
		fmt.Fprint(stdout, env.Render())
	}
	return ExitOK
}
