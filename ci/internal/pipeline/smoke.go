package pipeline

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"dagger.io/dagger"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
)

// How long the service may take to become healthy, and to notice that the
// database is gone.
const (
	healthyDeadline = 90
	outageDeadline  = 15
)

// SmokeInput is what the smoke stage takes.
type SmokeInput struct {
	Image       *dagger.Container       // the image for the engine's platform
	Healthcheck *dockerfile.Healthcheck // the Dockerfile's, which Dagger v0.19 drops
	DB          Started                 // PostgreSQL, started while the build ran
}

// Started is a service being started in the background.
type Started struct {
	*dagger.Service
	Wait func() error // until it is up, or failed to start
}

// start starts svc in the background. A service must be started once and
// explicitly when a stage stops it on purpose: a second Start arriving after
// the Stop would bring up a new instance under the same host name.
func start(ctx context.Context, svc *dagger.Service) Started {
	wait := sync.OnceValue(func() error {
		_, err := svc.Start(ctx)
		return err
	})
	go wait()
	return Started{Service: svc, Wait: wait}
}

// smokeDB is the smoke stage's own PostgreSQL: its outage check stops it,
// so no other run or stage may share it.
func smokeDB(ctx context.Context, env Env) Started {
	return start(ctx, postgres(env, "smoke-"+env.RunID))
}

// Smoke runs the image as a service against a PostgreSQL service and probes
// it over HTTP: /health must become 200 with the database ok, /livez 200;
// after the database stops, /health must turn 503. It also checks the image
// runs as non-root and that its shell-free healthcheck passes.
func Smoke(ctx context.Context, env Env, in SmokeInput, log io.Writer) error {
	img := in.Image
	if err := checkConfig(ctx, img, in.Healthcheck); err != nil {
		return err
	}

	db := in.DB
	api := img.
		WithServiceBinding("db", db.Service).
		WithEnvVariable("DATABASE_URL", databaseURL("db")).
		WithEnvVariable("LOG_LEVEL", "debug").
		WithEnvVariable("APP_ENV", "smoke").
		// Shorter than the default 2 s: the outage check waits for it.
		WithEnvVariable("HEALTH_TIMEOUT", "1s").
		WithExposedPort(8080).
		AsService(dagger.ContainerAsServiceOpts{UseEntrypoint: true})

	// Both are started explicitly: the outage check stops the database
	// under the running service, which must be the same instance.
	if err := db.Wait(); err != nil {
		return fmt.Errorf("starting PostgreSQL (%s): %w", env.Images.Postgres, err)
	}
	// Cleanup only: nothing is checked after, so don't wait for a graceful stop.
	defer db.Stop(context.WithoutCancel(ctx), dagger.ServiceStopOpts{Kill: true})
	if _, err := api.Start(ctx); err != nil {
		return fmt.Errorf("starting the service: %w (its log is in the engine output above)", err)
	}
	defer api.Stop(context.WithoutCancel(ctx), dagger.ServiceStopOpts{Kill: true})

	if out, err := probe(ctx, env, api, "up", probeUp, healthyDeadline); err != nil {
		fmt.Fprint(log, out)
		return fmt.Errorf("service never became healthy: %w (the service's log is in the engine output)", err)
	} else {
		fmt.Fprint(log, tail(out, 3))
	}

	// The image's own HEALTHCHECK command, run as Docker would (no shell),
	// pointed at the service.
	cmd := in.Healthcheck.Test[1:]
	hc := img.WithServiceBinding("api", api).
		WithEnvVariable("ADDR", "api:8080").
		WithEnvVariable("GANTRY_PROBE", "healthcheck-"+env.RunID).
		WithExec(cmd, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := hc.ExitCode(ctx)
	if err != nil {
		return fmt.Errorf("running the image's HEALTHCHECK %q: %w", cmd, err)
	}
	if code != 0 {
		stderr, _ := hc.Stderr(ctx)
		return fmt.Errorf("the image's HEALTHCHECK %q exits %d against the healthy service: %s", cmd, code, stderr)
	}
	fmt.Fprintf(log, "HEALTHCHECK %q -> exit 0\n", cmd)

	if _, err := db.Stop(ctx, dagger.ServiceStopOpts{Kill: true}); err != nil {
		return fmt.Errorf("stopping PostgreSQL for the outage check: %w", err)
	}
	if out, err := probe(ctx, env, api, "outage", probeOutage, outageDeadline); err != nil {
		fmt.Fprint(log, out)
		return fmt.Errorf("/health did not report the database outage: %w", err)
	} else {
		fmt.Fprint(log, tail(out, 2))
	}
	return nil
}

// checkConfig verifies the image's user, and that the Dockerfile's runtime
// stage defines an exec-form healthcheck whose binary is in the image.
func checkConfig(ctx context.Context, img *dagger.Container, hc *dockerfile.Healthcheck) error {
	user, err := img.User(ctx)
	if err != nil {
		return fmt.Errorf("reading the image's user: %w", err)
	}
	if uid, _, _ := strings.Cut(user, ":"); uid != "65532" {
		return fmt.Errorf("image runs as user %q, want 65532 (non-root): set USER 65532:65532 in the Dockerfile's last stage", user)
	}
	if hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
		return fmt.Errorf("the Dockerfile's last stage needs an exec-form HEALTHCHECK, e.g. HEALTHCHECK CMD [\"/app\", \"healthcheck\"] (the runtime image has no shell)")
	}
	if _, err := img.File(hc.Test[1]).Size(ctx); err != nil {
		return fmt.Errorf("healthcheck command %s is not in the image: %w", hc.Test[1], err)
	}
	return nil
}

// probe runs script in the pinned probe image against the service bound as
// "api". The run ID keeps Dagger from reusing an earlier probe's result.
func probe(ctx context.Context, env Env, api *dagger.Service, phase, script string, deadline int) (string, error) {
	ctr := env.Client.Container().From(env.Images.Probe).
		WithServiceBinding("api", api).
		WithEnvVariable("URL", "http://api:8080").
		WithEnvVariable("DEADLINE", fmt.Sprint(deadline)).
		WithEnvVariable("GANTRY_PROBE", phase+"-"+env.RunID).
		WithExec([]string{"sh", "-c", script}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return "", fmt.Errorf("running the %s probe: %w", phase, err)
	}
	out, _ := ctr.Stdout(ctx)
	if code != 0 {
		return tail(out, 15), fmt.Errorf("%s probe failed (exit %d)", phase, code)
	}
	return out, nil
}

// probeUp waits for /health to be 200 with the database ok (backoff 1, 2,
// 4, 4... seconds until DEADLINE), then checks /livez.
const probeUp = `
end=$(( $(date +%s) + DEADLINE )); delay=1; n=0
while :; do
  n=$((n+1))
  if body=$(wget -T 5 -O - "$URL/health" 2>/tmp/err); then
    case "$body" in
      *'"database":{"status":"ok"'*) echo "GET /health -> 200 after $n attempt(s): $body"; break ;;
    esac
    echo "attempt $n: GET /health -> 200 but database not ok: $body"
  else
    echo "attempt $n: GET /health -> $(tail -n 1 /tmp/err)"
  fi
  if [ "$(date +%s)" -ge "$end" ]; then echo "not healthy within ${DEADLINE}s"; exit 1; fi
  sleep $delay; delay=$((delay*2)); [ $delay -gt 4 ] && delay=4
done
if body=$(wget -T 5 -O - "$URL/livez" 2>/tmp/err); then echo "GET /livez -> 200: $body"
else echo "GET /livez -> $(tail -n 1 /tmp/err)"; exit 1; fi
`

// probeOutage expects /health to turn 503 within DEADLINE seconds.
const probeOutage = `
end=$(( $(date +%s) + DEADLINE )); n=0
while :; do
  n=$((n+1))
  if body=$(wget -T 5 -O - "$URL/health" 2>/tmp/err); then
    echo "attempt $n: GET /health -> 200 with the database stopped: $body"
  elif grep -q ' 503 ' /tmp/err; then
    echo "GET /health -> 503 after the database stopped (attempt $n)"; exit 0
  else
    echo "attempt $n: GET /health -> $(tail -n 1 /tmp/err)"
  fi
  if [ "$(date +%s)" -ge "$end" ]; then echo "no 503 within ${DEADLINE}s of stopping the database"; exit 1; fi
  sleep 1
done
`
