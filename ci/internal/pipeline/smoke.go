package pipeline

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"dagger.io/dagger"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
	"github.com/gantry-ci/gantry/ci/internal/project"
)

// SmokeInput is what the smoke stage takes.
type SmokeInput struct {
	Image       *dagger.Container       // the image for the engine's platform
	Healthcheck *dockerfile.Healthcheck // the Dockerfile's, which Dagger v0.19 drops
	DB          Started                 // the contract's PostgreSQL, started while the build ran
	Services    []Service               // the contract's other dependencies, images resolved
	Contract    project.Smoke           // what the service must do, with its defaults
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

// smokeDB is the smoke stage's own PostgreSQL, if the contract has one:
// its outage check stops it, so no other run or stage may share it.
func smokeDB(ctx context.Context, env Env, c project.Smoke) Started {
	if c.Postgres == nil {
		return Started{}
	}
	return start(ctx, postgres(env, "smoke-"+env.RunID))
}

// Smoke runs the image as a service, with the contract's environment,
// database and other dependencies, and probes it over HTTP: Ready until it passes, then each of
// Checks; then the image's own shell-free HEALTHCHECK; then, with Outage,
// it stops the database and expects Outage's answer. It also checks the
// image's user.
func Smoke(ctx context.Context, env Env, in SmokeInput, log io.Writer) error {
	img, c := in.Image, in.Contract
	if err := checkConfig(ctx, img, in.Healthcheck, c.User); err != nil {
		return err
	}

	svc := img
	if c.Postgres != nil {
		svc = svc.WithServiceBinding("db", in.DB.Service).WithEnvVariable(c.Postgres.URLEnv, databaseURL("db"))
	}
	svc = withServices(env, svc, in.Services)
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		svc = svc.WithEnvVariable(k, c.Env[k])
	}
	api := svc.WithExposedPort(c.Port).AsService(dagger.ContainerAsServiceOpts{UseEntrypoint: true})

	// Both are started explicitly: the outage check stops the database
	// under the running service, which must be the same instance.
	if c.Postgres != nil {
		if err := in.DB.Wait(); err != nil {
			return fmt.Errorf("starting PostgreSQL (%s): %w", env.Images.Postgres, err)
		}
		// Cleanup only: nothing is checked after, so don't wait for a graceful stop.
		defer in.DB.Stop(context.WithoutCancel(ctx), dagger.ServiceStopOpts{Kill: true})
	}
	if _, err := api.Start(ctx); err != nil {
		return fmt.Errorf("starting the service: %w (its log is in the engine output above)", err)
	}
	defer api.Stop(context.WithoutCancel(ctx), dagger.ServiceStopOpts{Kill: true})

	url := fmt.Sprintf("http://api:%d", c.Port)
	if out, err := probe(ctx, env, api, url, "ready", c.Ready, c.ReadyWithin, 4); err != nil {
		fmt.Fprint(log, out)
		return fmt.Errorf("the service never became ready: %w (the service's log is in the engine output)", err)
	} else {
		fmt.Fprint(log, tail(out, 3))
	}
	for i, check := range c.Checks {
		if out, err := probe(ctx, env, api, url, fmt.Sprintf("check-%d", i), check, c.CheckWithin, 4); err != nil {
			fmt.Fprint(log, out)
			return err
		} else {
			fmt.Fprint(log, tail(out, 1))
		}
	}

	// The image's own HEALTHCHECK command, run as Docker would (no shell),
	// pointed at the service.
	cmd := in.Healthcheck.Test[1:]
	hc := img.WithServiceBinding("api", api)
	for _, k := range slices.Sorted(maps.Keys(c.HealthcheckEnv)) {
		hc = hc.WithEnvVariable(k, c.HealthcheckEnv[k])
	}
	hc = hc.WithEnvVariable("GANTRY_PROBE", "healthcheck-"+env.RunID).
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

	if c.Outage == nil {
		return nil
	}
	if _, err := in.DB.Stop(ctx, dagger.ServiceStopOpts{Kill: true}); err != nil {
		return fmt.Errorf("stopping PostgreSQL for the outage check: %w", err)
	}
	if out, err := probe(ctx, env, api, url, "outage", *c.Outage, c.OutageWithin, 1); err != nil {
		fmt.Fprint(log, out)
		return fmt.Errorf("the service did not report its database's outage: %w", err)
	} else {
		fmt.Fprint(log, tail(out, 2))
	}
	return nil
}

// checkUser says whether an image whose USER is user runs as want (a name
// or uid), or, with want empty, as anyone but root.
func checkUser(user, want string) error {
	name, _, _ := strings.Cut(user, ":")
	switch {
	case want != "" && name != want:
		return fmt.Errorf("the image runs as user %q, the contract says %s (gantry.Smoke.User): set USER %s in the Dockerfile's last stage", user, want, want)
	case want == "" && (name == "" || name == "0" || name == "root"):
		return fmt.Errorf("the image runs as root (USER %q): set a non-root USER in the Dockerfile's last stage, e.g. USER 65532:65532", user)
	}
	return nil
}

// checkConfig verifies the image's user, and that the Dockerfile's runtime
// stage defines an exec-form healthcheck whose binary is in the image.
func checkConfig(ctx context.Context, img *dagger.Container, hc *dockerfile.Healthcheck, want string) error {
	user, err := img.User(ctx)
	if err != nil {
		return fmt.Errorf("reading the image's user: %w", err)
	}
	if err := checkUser(user, want); err != nil {
		return err
	}
	if hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
		return fmt.Errorf("the Dockerfile's last stage needs an exec-form HEALTHCHECK, e.g. HEALTHCHECK CMD [\"/app\", \"healthcheck\"] (the runtime image has no shell)")
	}
	if err := lookPath(ctx, img, hc.Test[1]); err != nil {
		return fmt.Errorf("healthcheck command %s is not in the image: %w", hc.Test[1], err)
	}
	return nil
}

// dockerPath is the PATH Docker gives a container whose image sets none.
const dockerPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds cmd in img as an exec-form command is found: a path
// (from the working directory when relative), or a name in the image's
// PATH.
func lookPath(ctx context.Context, img *dagger.Container, cmd string) error {
	if strings.Contains(cmd, "/") {
		_, err := img.File(cmd).Size(ctx)
		return err
	}
	p, err := img.EnvVariable(ctx, "PATH")
	if err != nil {
		return fmt.Errorf("reading the image's PATH: %w", err)
	}
	if p == "" {
		p = dockerPath
	}
	for _, dir := range strings.Split(p, ":") {
		if dir == "" || !path.IsAbs(dir) {
			continue
		}
		if _, err := img.File(path.Join(dir, cmd)).Size(ctx); err == nil {
			return nil
		}
	}
	return fmt.Errorf("no %s in the image's PATH (%s)", cmd, p)
}

// probe checks c in the pinned probe image against the service bound as
// "api" at url, polling (1, 2, … up to maxDelay seconds apart) for within.
// The run ID keeps Dagger from reusing an earlier probe's result.
func probe(ctx context.Context, env Env, api *dagger.Service, url, phase string, c project.Check, within time.Duration, maxDelay int) (string, error) {
	ctr := env.Client.Container().From(env.Images.Probe).
		WithServiceBinding("api", api).
		WithEnvVariable("URL", url+c.Path).
		WithEnvVariable("CHECK_PATH", c.Path).
		WithEnvVariable("CHECK_STATUS", strconv.Itoa(c.Status)).
		WithEnvVariable("CHECK_BODY", c.Body).
		WithEnvVariable("DEADLINE", strconv.Itoa(int(within.Seconds()))).
		WithEnvVariable("MAX_DELAY", strconv.Itoa(maxDelay)).
		WithEnvVariable("GANTRY_PROBE", phase+"-"+env.RunID).
		WithExec([]string{"sh", "-c", probeScript}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return "", fmt.Errorf("running the %s probe: %w", phase, err)
	}
	out, _ := ctr.Stdout(ctx)
	if code != 0 {
		err := fmt.Errorf("GET %s: no %d within %s", c.Path, c.Status, within)
		if last := lastAnswer(out); last != "" {
			err = fmt.Errorf("%w (last: %s)", err, last)
		}
		return tail(out, 15), err
	}
	return out, nil
}

// lastAnswer is what the probe's last attempt got (`GET /health -> 2xx,
// want 503: {"db":"up"}`), from its output: what a failed smoke stage's
// annotation says.
func lastAnswer(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if _, rest, ok := strings.Cut(lines[i], "attempt "); ok && strings.HasPrefix(lines[i], "attempt ") {
			if _, answer, ok := strings.Cut(rest, ": "); ok {
				return answer
			}
		}
	}
	return ""
}

// probeScript polls GET $URL until it answers $CHECK_STATUS (and, for a
// 2xx, a body holding $CHECK_BODY), waiting 1, 2, 4… up to $MAX_DELAY
// seconds between attempts, for $DEADLINE seconds. busybox's wget exits 0
// on a 2xx and prints the status of any other answer on stderr.
const probeScript = `
end=$(( $(date +%s) + DEADLINE )); delay=1; n=0
while :; do
  n=$((n+1))
  if body=$(wget -T 5 -O - "$URL" 2>/tmp/err); then
    status=2xx
  else
    status=$(sed -n 's/.*HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' /tmp/err | tail -n 1)
    body=
  fi
  case "$CHECK_STATUS:$status" in
    2??:2xx)
      case "$body" in
        *"$CHECK_BODY"*) echo "GET $CHECK_PATH -> $CHECK_STATUS after $n attempt(s): $body"; exit 0 ;;
      esac
      echo "attempt $n: GET $CHECK_PATH -> 2xx without \"$CHECK_BODY\": $body" ;;
    "$CHECK_STATUS:$CHECK_STATUS")
      echo "GET $CHECK_PATH -> $status after $n attempt(s)"; exit 0 ;;
    *:2xx) echo "attempt $n: GET $CHECK_PATH -> 2xx, want $CHECK_STATUS: $body" ;;
    *) echo "attempt $n: GET $CHECK_PATH -> $(tail -n 1 /tmp/err)" ;;
  esac
  if [ "$(date +%s)" -ge "$end" ]; then echo "GET $CHECK_PATH: no $CHECK_STATUS within ${DEADLINE}s"; exit 1; fi
  sleep $delay; delay=$((delay*2)); [ $delay -gt "$MAX_DELAY" ] && delay=$MAX_DELAY
done
`
