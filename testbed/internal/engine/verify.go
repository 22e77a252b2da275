package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"dagger.io/dagger"
)

// ConnectTimeout bounds dagger.Connect: with a broken engine it would block
// for about five minutes.
const ConnectTimeout = 3 * time.Minute

// ClientEnv is the environment that points the Dagger Go SDK at the bed's
// CLI and engine.
func ClientEnv(cliBin string) map[string]string {
	return map[string]string{
		"_EXPERIMENTAL_DAGGER_CLI_BIN":     cliBin,
		"_EXPERIMENTAL_DAGGER_RUNNER_HOST": RunnerHost,
		"DO_NOT_TRACK":                     "1",
	}
}

// Verify connects to the engine through the CLI at cliBin and runs a
// command in the probe image pulled from the bed's registry: proof that
// the CLI, the engine, its network and the registry work together.
func Verify(ctx context.Context, log io.Writer, cliBin, probeRef string) error {
	for k, v := range ClientEnv(cliBin) {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	start := time.Now()
	client, err := dagger.Connect(cctx, dagger.WithLogOutput(log))
	if err != nil {
		return fmt.Errorf("connecting to the engine (%s): %w", time.Since(start).Round(time.Millisecond), err)
	}
	defer client.Close()
	fmt.Fprintf(log, "connected in %s\n", time.Since(start).Round(time.Millisecond))
	out, err := client.Container().From(probeRef).
		WithEnvVariable("CACHE_BUSTER", time.Now().String()).
		WithExec([]string{"sh", "-c", "echo engine-ok"}).
		Stdout(cctx)
	if err != nil {
		return fmt.Errorf("running a command in %s: %w", probeRef, err)
	}
	if strings.TrimSpace(out) != "engine-ok" {
		return fmt.Errorf("probe printed %q, want engine-ok", out)
	}
	return nil
}
