// Package bgproc starts the test bed's daemons (dockerd, registries) as
// detached background processes that outlive the command that started them,
// records them in PID files, and stops exactly those processes again. A PID
// file holds the PID and the process's start time, so a PID reused by an
// unrelated process is never mistaken for ours.
package bgproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Record identifies one started process.
type Record struct {
	PID   int
	Start uint64 // start time in clock ticks since boot (/proc/PID/stat field 22)
}

func (r Record) String() string { return fmt.Sprintf("%d %d", r.PID, r.Start) }

// Start runs argv detached (own session, stdin from /dev/null, output
// appended to logPath), writes its record to pidFile and returns it.
func Start(argv []string, env []string, logPath, pidFile string) (Record, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Record{}, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s starting: %s\n", time.Now().Format(time.RFC3339), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Record{}, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	rec := Record{PID: cmd.Process.Pid}
	rec.Start, err = startTime(rec.PID)
	if err != nil {
		cmd.Process.Kill()
		return Record{}, fmt.Errorf("reading start time of %s: %w", argv[0], err)
	}
	// Reap it if it dies while we still run, so it never lingers as a zombie.
	go cmd.Wait()
	if err := os.WriteFile(pidFile, []byte(rec.String()+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		return Record{}, err
	}
	return rec, nil
}

// Read returns the record in pidFile; ok is false when there is none.
func Read(pidFile string) (rec Record, ok bool, err error) {
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	rec, err = Parse(string(data))
	if err != nil {
		return Record{}, false, fmt.Errorf("%s: %w", pidFile, err)
	}
	return rec, true, nil
}

// Parse reads a record written by Start.
func Parse(s string) (Record, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return Record{}, fmt.Errorf("malformed PID record %q", s)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return Record{}, fmt.Errorf("malformed PID in %q", s)
	}
	start, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("malformed start time in %q", s)
	}
	return Record{PID: pid, Start: start}, nil
}

// Alive reports whether the recorded process still runs (and is not a
// zombie, nor a different process under a reused PID).
func (r Record) Alive() bool {
	st, state, err := stat(r.PID)
	return err == nil && st == r.Start && state != "Z" && state != "X"
}

// Stop sends SIGTERM to the recorded process, waits up to grace for it to
// exit, then sends SIGKILL. Stopping a dead process is not an error.
func (r Record) Stop(ctx context.Context, grace time.Duration) error {
	if !r.Alive() {
		return nil
	}
	if err := syscall.Kill(r.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling %d: %w", r.PID, err)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !r.Alive() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	syscall.Kill(r.PID, syscall.SIGKILL)
	for i := 0; i < 50 && r.Alive(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if r.Alive() {
		return fmt.Errorf("process %d survived SIGKILL", r.PID)
	}
	return nil
}

func startTime(pid int) (uint64, error) {
	st, _, err := stat(pid)
	return st, err
}

// stat reads the start time and state of pid from /proc.
func stat(pid int) (uint64, string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	// The command name (field 2) may contain spaces; fields after it don't.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 {
		return 0, "", fmt.Errorf("short /proc/%d/stat", pid)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	return st, f[0], err
}
