// Package dockerfile reads the runtime stage's HEALTHCHECK and USER from a
// Dockerfile. Dagger v0.19 keeps only the OCI part of an image config, which
// has no healthcheck; the publish stage puts the Dockerfile's back.
package dockerfile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Healthcheck mirrors Docker's HEALTHCHECK instruction.
type Healthcheck struct {
	Test        []string      `json:"test"` // ["CMD", ...] or ["CMD-SHELL", "..."]
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	Retries     int           `json:"retries,omitempty"`
}

// Stage is what Gantry needs to know about the final stage.
type Stage struct {
	User        string
	Healthcheck *Healthcheck // nil: none, or HEALTHCHECK NONE
}

// Runtime parses data and returns the settings of the stage called target
// (FROM … AS target; names compare case-insensitively, as Docker's do), or
// of the last stage when target is empty.
func Runtime(data, target string) (Stage, error) {
	var st, found Stage
	var names []string
	stages, inTarget, foundOK := 0, false, false
	for _, line := range logicalLines(data) {
		instr, rest, _ := strings.Cut(strings.TrimSpace(line.text), " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			if inTarget {
				found, foundOK = st, true
			}
			stages++
			st, inTarget = Stage{}, false
			if f := strings.Fields(rest); len(f) >= 3 && strings.EqualFold(f[len(f)-2], "AS") {
				names = append(names, f[len(f)-1])
				inTarget = target != "" && strings.EqualFold(f[len(f)-1], target)
			}
		case "USER":
			st.User = rest
		case "HEALTHCHECK":
			hc, err := parseHealthcheck(rest)
			if err != nil {
				return Stage{}, fmt.Errorf("line %d: HEALTHCHECK: %w", line.no, err)
			}
			st.Healthcheck = hc
		}
	}
	if inTarget {
		found, foundOK = st, true
	}
	switch {
	case stages == 0:
		return Stage{}, fmt.Errorf("no FROM instruction")
	case target == "":
		return st, nil
	case foundOK:
		return found, nil
	}
	return Stage{}, fmt.Errorf("no stage called %q (the stages named: %s)", target, strings.Join(names, ", "))
}

type logicalLine struct {
	no   int
	text string
}

// logicalLines joins backslash continuations and drops comments.
func logicalLines(data string) []logicalLine {
	var out []logicalLine
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(data))
	for no := 1; sc.Scan(); no++ {
		l := sc.Text()
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = no
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, logicalLine{start, cur.String()})
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, logicalLine{start, cur.String()})
	}
	return out
}

func parseHealthcheck(s string) (*Healthcheck, error) {
	hc := &Healthcheck{}
	for strings.HasPrefix(s, "--") {
		flag, rest, _ := strings.Cut(s, " ")
		s = strings.TrimSpace(rest)
		name, val, ok := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
		if !ok {
			return nil, fmt.Errorf("flag %q needs a value (--%s=VALUE)", flag, name)
		}
		var err error
		switch name {
		case "interval":
			hc.Interval, err = time.ParseDuration(val)
		case "timeout":
			hc.Timeout, err = time.ParseDuration(val)
		case "start-period":
			hc.StartPeriod, err = time.ParseDuration(val)
		case "start-interval":
			_, err = time.ParseDuration(val) // accepted, not used by the image config we write
		case "retries":
			hc.Retries, err = strconv.Atoi(val)
		default:
			return nil, fmt.Errorf("unknown flag --%s", name)
		}
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", name, err)
		}
	}
	kind, args, _ := strings.Cut(s, " ")
	args = strings.TrimSpace(args)
	switch strings.ToUpper(kind) {
	case "NONE":
		return nil, nil
	case "CMD":
	default:
		return nil, fmt.Errorf("want CMD or NONE, got %q", kind)
	}
	if strings.HasPrefix(args, "[") {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			return nil, fmt.Errorf("exec form %s: %w", args, err)
		}
		if len(argv) == 0 {
			return nil, fmt.Errorf("empty command")
		}
		hc.Test = append([]string{"CMD"}, argv...)
		return hc, nil
	}
	if args == "" {
		return nil, fmt.Errorf("empty command")
	}
	hc.Test = []string{"CMD-SHELL", args}
	return hc, nil
}
